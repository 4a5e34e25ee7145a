/* SPDX-License-Identifier: Apache-2.0 */
#include "hcn/hcn.h"
#include "base/win.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include <objbase.h>

#include "base/alloc.h"

typedef HRESULT(WINAPI *enumerate_fn)(PCWSTR query, PWSTR *list, PWSTR *error_record);
typedef HRESULT(WINAPI *create_ns_fn)(REFGUID id, PCWSTR settings, void **ns, PWSTR *error_record);
typedef HRESULT(WINAPI *open_fn)(REFGUID id, void **handle, PWSTR *error_record);
typedef HRESULT(WINAPI *query_fn)(void *handle, PCWSTR query, PWSTR *properties, PWSTR *error_record);
typedef HRESULT(WINAPI *delete_fn)(REFGUID id, PWSTR *error_record);
typedef HRESULT(WINAPI *close_fn)(void *handle);

struct cairn_hcn {
        HMODULE dll;
        enumerate_fn enumerate_namespaces, enumerate_networks;
        create_ns_fn create_namespace;
        open_fn open_namespace, open_network;
        query_fn query_namespace, query_network;
        delete_fn delete_namespace;
        close_fn close_namespace, close_network;
};


static char *from_wide(const wchar_t *w)
{
        if (!w)
                return cairn_xstrdup("");
        int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
        char *s = cairn_xmalloc((size_t) (n > 0 ? n : 1));
        if (n <= 0 || !WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL))
                s[0] = 0;
        return s;
}

/* What HNS allocated, as UTF-8; frees it. */
static char *take(PWSTR w)
{
        char *s = from_wide(w);
        if (w)
                CoTaskMemFree(w);
        return s;
}

static char *system_text(DWORD code)
{
        wchar_t *buf = NULL;
        DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                                         FORMAT_MESSAGE_IGNORE_INSERTS,
                                 NULL, code, 0, (LPWSTR) &buf, 0, NULL);
        char *s = n ? from_wide(buf) : NULL;
        if (buf)
                LocalFree(buf);
        /* FormatMessage ends its text with a line break. */
        for (size_t len = s ? strlen(s) : 0; len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ');)
                s[--len] = 0;
        return s;
}

static int hr_error(struct cairn_error **err, const char *what, HRESULT hr, PWSTR record)
{
        char *rec = take(record);
        char *sys = system_text((DWORD) hr);
        char *msg = cairn_hcn_error_message(what, (long) hr, sys, rec);
        int r = cairn_error_set(err, -EIO, "%s", msg);
        free(msg);
        free(sys);
        free(rec);
        return r;
}

int cairn_hcn_open(struct cairn_hcn **ret, struct cairn_error **err)
{
        HMODULE dll = LoadLibraryExW(L"computenetwork.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
        if (!dll) {
                DWORD code = GetLastError();
                char *sys = system_text(code);
                int r = cairn_error_set(err, -ENOENT,
                                        "cannot load computenetwork.dll (Windows error %lu%s%s): the Host Compute "
                                        "Network service needs Windows 10 1809 or Windows Server 2019 or later, with "
                                        "the Containers feature",
                                        (unsigned long) code, sys ? ": " : "", sys ? sys : "");
                free(sys);
                return r;
        }
        struct cairn_hcn *h = cairn_xzalloc(sizeof(*h));
        h->dll = dll;
        static const struct {
                const char *name;
                size_t offset;
        } fns[] = {
                { "HcnEnumerateNamespaces", offsetof(struct cairn_hcn, enumerate_namespaces) },
                { "HcnEnumerateNetworks", offsetof(struct cairn_hcn, enumerate_networks) },
                { "HcnCreateNamespace", offsetof(struct cairn_hcn, create_namespace) },
                { "HcnOpenNamespace", offsetof(struct cairn_hcn, open_namespace) },
                { "HcnOpenNetwork", offsetof(struct cairn_hcn, open_network) },
                { "HcnQueryNamespaceProperties", offsetof(struct cairn_hcn, query_namespace) },
                { "HcnQueryNetworkProperties", offsetof(struct cairn_hcn, query_network) },
                { "HcnDeleteNamespace", offsetof(struct cairn_hcn, delete_namespace) },
                { "HcnCloseNamespace", offsetof(struct cairn_hcn, close_namespace) },
                { "HcnCloseNetwork", offsetof(struct cairn_hcn, close_network) },
        };
        for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
                FARPROC p = GetProcAddress(dll, fns[i].name);
                if (!p) {
                        cairn_hcn_close(h);
                        return cairn_error_set(err, -ENOSYS, "computenetwork.dll has no %s", fns[i].name);
                }
                memcpy((char *) h + fns[i].offset, &p, sizeof(p));
        }
        *ret = h;
        return 0;
}

void cairn_hcn_close(struct cairn_hcn *h)
{
        if (!h)
                return;
        FreeLibrary(h->dll);
        free(h);
}

static int parse_guid(const char *s, GUID *g, struct cairn_error **err)
{
        uint8_t raw[16];
        if (cairn_guid_parse(s, raw) < 0)
                return cairn_error_set(err, -EINVAL, "\"%s\" is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s);
        memcpy(g, raw, 16);
        return 0;
}

int cairn_hcn_namespace_create(struct cairn_hcn *h, char **ret_guid, struct cairn_error **err)
{
        /* An all-zero ID: HNS chooses one, as hcsshim asks it to. */
        GUID zero = { 0 };
        void *ns = NULL;
        PWSTR record = NULL;
        wchar_t *settings = cairn_win_wide(CAIRN_HCN_NAMESPACE_SETTINGS);
        HRESULT hr = h->create_namespace(&zero, settings, &ns, &record);
        free(settings);
        if (FAILED(hr))
                return hr_error(err, "HcnCreateNamespace", hr, record);
        free(take(record));
        PWSTR props = NULL;
        record = NULL;
        wchar_t *query = cairn_win_wide(CAIRN_HCN_QUERY);
        hr = h->query_namespace(ns, query, &props, &record);
        free(query);
        h->close_namespace(ns);
        if (FAILED(hr))
                return hr_error(err, "HcnQueryNamespaceProperties", hr, record);
        free(take(record));
        char *text = take(props);
        int r = cairn_hcn_parse_namespace_id(text, ret_guid, err);
        free(text);
        return r;
}

int cairn_hcn_namespace_delete(struct cairn_hcn *h, const char *guid, struct cairn_error **err)
{
        GUID g;
        int r = parse_guid(guid, &g, err);
        if (r < 0)
                return r;
        PWSTR record = NULL;
        HRESULT hr = h->delete_namespace(&g, &record);
        if (hr == HRESULT_FROM_WIN32(ERROR_NOT_FOUND)) {
                free(take(record));
                return 0;
        }
        if (FAILED(hr))
                return hr_error(err, "HcnDeleteNamespace", hr, record);
        free(take(record));
        return 1;
}

static int enumerate(enumerate_fn fn, const char *what, char ***ret, struct cairn_error **err)
{
        PWSTR list = NULL, record = NULL;
        wchar_t *query = cairn_win_wide(CAIRN_HCN_QUERY);
        HRESULT hr = fn(query, &list, &record);
        free(query);
        if (FAILED(hr)) {
                free(take(list));
                return hr_error(err, what, hr, record);
        }
        free(take(record));
        char *text = take(list);
        int r = cairn_hcn_parse_guid_list(text, ret, err);
        free(text);
        return r;
}

int cairn_hcn_namespace_list(struct cairn_hcn *h, char ***ret, struct cairn_error **err)
{
        return enumerate(h->enumerate_namespaces, "HcnEnumerateNamespaces", ret, err);
}

int cairn_hcn_network_list(struct cairn_hcn *h, struct cairn_hcn_network **ret, size_t *ret_n,
                           struct cairn_error **err)
{
        char **ids = NULL;
        int r = enumerate(h->enumerate_networks, "HcnEnumerateNetworks", &ids, err);
        if (r < 0)
                return r;
        size_t n = cairn_strv_length((const char *const *) ids);
        struct cairn_hcn_network *v = cairn_xzalloc((n + 1) * sizeof(*v));
        for (size_t i = 0; i < n && r >= 0; i++) {
                GUID g;
                void *net = NULL;
                PWSTR record = NULL, props = NULL;
                if ((r = parse_guid(ids[i], &g, err)) < 0)
                        break;
                HRESULT hr = h->open_network(&g, &net, &record);
                if (FAILED(hr)) {
                        r = hr_error(err, "HcnOpenNetwork", hr, record);
                        break;
                }
                free(take(record));
                record = NULL;
                wchar_t *query = cairn_win_wide(CAIRN_HCN_QUERY);
                hr = h->query_network(net, query, &props, &record);
                free(query);
                h->close_network(net);
                if (FAILED(hr)) {
                        r = hr_error(err, "HcnQueryNetworkProperties", hr, record);
                        break;
                }
                free(take(record));
                char *text = take(props);
                r = cairn_hcn_parse_network(text, &v[i], err);
                free(text);
        }
        cairn_strv_free(ids);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        cairn_hcn_network_clear(&v[i]);
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
