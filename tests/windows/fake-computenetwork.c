/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A STAND-IN for Windows' computenetwork.dll (the Host Compute Network
 * API), for testing cairn-hcn under wine, which has no HNS.  It is not
 * HNS: it answers with canned documents in the shapes hcsshim documents
 * (containerd-notes section 4.3), keeps the namespaces it "creates" in a
 * file, and is steered by the environment:
 *
 *   FAKE_HCN_STATE    file (a Windows path) holding the namespaces, one GUID a line
 *   FAKE_HCN_SUBNET   the NAT network's subnet (default 172.20.16.0/20)
 *   FAKE_HCN_GATEWAY  its gateway (default 172.20.16.1)
 *   FAKE_HCN_NO_NAT   set: there is no NAT network
 *   FAKE_HCN_NAT2     set: a second NAT network, "build", 172.29.0.0/16
 *   FAKE_HCN_SETTINGS file (a Windows path) where HcnCreateNamespace writes
 *                     the settings document it was given, as UTF-8
 *   FAKE_HCN_FAIL     "create": HcnCreateNamespace fails with an HNS error record
 *
 * Every string it returns is UTF-16 from CoTaskMemAlloc, as the real one's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>
#include <objbase.h>

#define NAT_ID "a6f2c3d1-0000-4000-8000-00000000aa01"
#define EXT_ID "a6f2c3d1-0000-4000-8000-00000000bb02"
#define NAT2_ID "a6f2c3d1-0000-4000-8000-00000000cc03"

static PWSTR out(const char *s)
{
        int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
        PWSTR w = CoTaskMemAlloc((size_t) n * sizeof(WCHAR));
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
        return w;
}

static char *narrow(PCWSTR w)
{
        int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
        char *s = malloc((size_t) n);
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
        return s;
}

static void guid_text(const GUID *g, char buf[37])
{
        snprintf(buf, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long) g->Data1, g->Data2,
                 g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6],
                 g->Data4[7]);
}

static const char *state_path(void)
{
        const char *p = getenv("FAKE_HCN_STATE");
        return p ? p : "C:\\fake-hcn-namespaces.txt";
}

/* The namespaces, concatenated lines. */
static char *read_state(void)
{
        FILE *f = fopen(state_path(), "rb");
        char *buf = calloc(1, 65536);
        if (f) {
                size_t n = fread(buf, 1, 65535, f);
                buf[n] = 0;
                fclose(f);
        }
        return buf;
}

static void write_state(const char *text)
{
        FILE *f = fopen(state_path(), "wb");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

static HRESULT fail(HRESULT hr, PWSTR *record, const char *error)
{
        char doc[512];
        snprintf(doc, sizeof(doc), "{\"Success\":false,\"Error\":\"%s\",\"ErrorCode\":%lu}", error,
                 (unsigned long) hr);
        if (record)
                *record = out(doc);
        return hr;
}

HRESULT WINAPI HcnEnumerateNamespaces(PCWSTR query, PWSTR *list, PWSTR *record)
{
        char *state = read_state();
        char doc[65536 + 1024] = "[";
        char *line = strtok(state, "\r\n");
        for (int i = 0; line; line = strtok(NULL, "\r\n"), i++)
                snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc), "%s\"%s\"", i ? "," : "", line);
        strcat(doc, "]");
        free(state);
        *list = out(doc);
        if (record)
                *record = NULL;
        return S_OK;
}

struct ns {
        char id[37];
};

HRESULT WINAPI HcnCreateNamespace(REFGUID id, PCWSTR settings, void **handle, PWSTR *record)
{
        char *s = narrow(settings);
        int versioned = strstr(s, "\"SchemaVersion\"") != NULL;
        const char *log = getenv("FAKE_HCN_SETTINGS");
        FILE *lf = log ? fopen(log, "wb") : NULL;
        if (lf) {
                fputs(s, lf);
                fclose(lf);
        }
        free(s);
        if (!versioned)
                return fail(E_INVALIDARG, record, "Invalid JSON document: SchemaVersion is required");
        const char *f = getenv("FAKE_HCN_FAIL");
        if (f && strcmp(f, "create") == 0)
                return fail(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), record,
                            "HNS failed with error : Cannot create a file when that file already exists.");
        char *state = read_state();
        int n = 0;
        for (char *p = state; *p; p++)
                n += *p == '\n';
        struct ns *ns = calloc(1, sizeof(*ns));
        snprintf(ns->id, sizeof(ns->id), "5f0e7f0e-%04x-4e2a-9c1d-%012x", n + 1, 0xabc000 + n);
        char *next = malloc(strlen(state) + 40);
        sprintf(next, "%s%s\n", state, ns->id);
        write_state(next);
        free(next);
        free(state);
        *handle = ns;
        if (record)
                *record = NULL;
        return S_OK;
}

HRESULT WINAPI HcnOpenNamespace(REFGUID id, void **handle, PWSTR *record)
{
        struct ns *ns = calloc(1, sizeof(*ns));
        guid_text(id, ns->id);
        *handle = ns;
        return S_OK;
}

HRESULT WINAPI HcnQueryNamespaceProperties(void *handle, PCWSTR query, PWSTR *props, PWSTR *record)
{
        struct ns *ns = handle;
        char doc[256];
        snprintf(doc, sizeof(doc), "{\"ID\":\"%s\",\"NamespaceId\":7,\"Type\":\"HostDefault\",\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}",
                 ns->id);
        *props = out(doc);
        if (record)
                *record = NULL;
        return S_OK;
}

HRESULT WINAPI HcnCloseNamespace(void *handle)
{
        free(handle);
        return S_OK;
}

HRESULT WINAPI HcnDeleteNamespace(REFGUID id, PWSTR *record)
{
        char want[37];
        guid_text(id, want);
        char *state = read_state();
        char *rest = calloc(1, strlen(state) + 1);
        int found = 0;
        for (char *line = strtok(state, "\r\n"); line; line = strtok(NULL, "\r\n")) {
                if (_stricmp(line, want) == 0) {
                        found = 1;
                        continue;
                }
                strcat(rest, line);
                strcat(rest, "\n");
        }
        if (found)
                write_state(rest);
        free(rest);
        free(state);
        if (!found)
                return fail(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), record, "Element not found.");
        if (record)
                *record = NULL;
        return S_OK;
}

HRESULT WINAPI HcnEnumerateNetworks(PCWSTR query, PWSTR *list, PWSTR *record)
{
        *list = out(getenv("FAKE_HCN_NO_NAT")  ? "[\"" EXT_ID "\"]"
                    : getenv("FAKE_HCN_NAT2") ? "[\"" EXT_ID "\",\"" NAT_ID "\",\"" NAT2_ID "\"]"
                                              : "[\"" EXT_ID "\",\"" NAT_ID "\"]");
        if (record)
                *record = NULL;
        return S_OK;
}

HRESULT WINAPI HcnOpenNetwork(REFGUID id, void **handle, PWSTR *record)
{
        char *t = malloc(37);
        guid_text(id, t);
        *handle = t;
        return S_OK;
}

HRESULT WINAPI HcnQueryNetworkProperties(void *handle, PCWSTR query, PWSTR *props, PWSTR *record)
{
        const char *id = handle;
        char doc[1024];
        if (strcmp(id, NAT_ID) == 0) {
                const char *subnet = getenv("FAKE_HCN_SUBNET"), *gw = getenv("FAKE_HCN_GATEWAY");
                snprintf(doc, sizeof(doc),
                         "{\"ID\":\"%s\",\"Name\":\"nat\",\"Type\":\"NAT\",\"Ipams\":[{\"Type\":\"Static\",\"Subnets\":[{"
                         "\"IpAddressPrefix\":\"%s\",\"Routes\":[{\"NextHop\":\"%s\",\"DestinationPrefix\":\"0.0.0.0/0\"}]}]}],"
                         "\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}",
                         id, subnet ? subnet : "172.20.16.0/20", gw ? gw : "172.20.16.1");
        } else if (strcmp(id, NAT2_ID) == 0) {
                snprintf(doc, sizeof(doc),
                         "{\"ID\":\"%s\",\"Name\":\"build\",\"Type\":\"NAT\",\"Ipams\":[{\"Type\":\"Static\",\"Subnets\":[{"
                         "\"IpAddressPrefix\":\"172.29.0.0/16\",\"Routes\":[{\"NextHop\":\"172.29.0.1\",\"DestinationPrefix\":"
                         "\"0.0.0.0/0\"}]}]}],\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}",
                         id);
        } else {
                snprintf(doc, sizeof(doc),
                         "{\"ID\":\"%s\",\"Name\":\"ext\",\"Type\":\"Transparent\",\"Ipams\":[],\"SchemaVersion\":{\"Major\":2,"
                         "\"Minor\":0}}",
                         id);
        }
        *props = out(doc);
        if (record)
                *record = NULL;
        return S_OK;
}

HRESULT WINAPI HcnCloseNetwork(void *handle)
{
        free(handle);
        return S_OK;
}
