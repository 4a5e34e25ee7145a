/* SPDX-License-Identifier: Apache-2.0 */
#include "hcn/hcn-doc.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/strbuf.h"

int cairn_guid_parse(const char *s, uint8_t out[16])
{
        size_t n = strlen(s);
        if (n == 38 && s[0] == '{' && s[37] == '}') {
                s++;
                n = 36;
        }
        if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
                return -EINVAL;
        uint8_t raw[16];
        size_t k = 0;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        continue;
                int hi = cairn_hex_value(s[i]), lo = cairn_hex_value(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                raw[k++] = (uint8_t) (hi << 4 | lo);
                i++;
        }
        /* Data1 (4 bytes), Data2 and Data3 (2 each) are little-endian in a
         * GUID; Data4 is a byte array. */
        static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
        for (int i = 0; i < 16; i++)
                out[i] = raw[order[i]];
        return 0;
}

void cairn_guid_format(const uint8_t g[16], char out[37])
{
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[3], g[2], g[1], g[0],
                 g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

char *cairn_hcn_query_by_id(const char *guid)
{
        json_t *filter = json_object();
        json_object_set_new(filter, "ID", json_string(guid));
        char *f = json_dumps(filter, JSON_COMPACT);
        json_decref(filter);
        json_t *q = json_loads(CAIRN_HCN_QUERY, 0, NULL);
        json_object_set_new(q, "Filter", json_string(f ? f : "{}"));
        free(f);
        char *s = json_dumps(q, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(q);
        return s;
}

static json_t *load(const char *json, const char *what, struct cairn_error **err)
{
        json_error_t je;
        json_t *j = json_loads(json ? json : "", JSON_REJECT_DUPLICATES, &je);
        if (!j)
                cairn_error_set(err, -EINVAL, "HNS %s: line %d, column %d: %s", what, je.line, je.column, je.text);
        return j;
}

int cairn_hcn_parse_guid_list(const char *json, char ***ret, struct cairn_error **err)
{
        json_t *j = load(json, "list", err);
        if (!j)
                return -EINVAL;
        if (!json_is_array(j)) {
                json_decref(j);
                return cairn_error_set(err, -EINVAL, "HNS list: expected a JSON array of IDs");
        }
        size_t n = json_array_size(j);
        char **v = cairn_xzalloc((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(j, i));
                uint8_t g[16];
                if (!s || cairn_guid_parse(s, g) < 0) {
                        cairn_strv_free(v);
                        json_decref(j);
                        return cairn_error_set(err, -EINVAL, "HNS list: item %zu is not a GUID", i + 1);
                }
                v[i] = cairn_xstrdup(s);
        }
        json_decref(j);
        *ret = v;
        return 0;
}

int cairn_hcn_parse_namespace_id(const char *json, char **ret, struct cairn_error **err)
{
        json_t *j = load(json, "namespace", err);
        if (!j)
                return -EINVAL;
        const char *id = json_string_value(json_object_get(j, "ID"));
        uint8_t g[16];
        int r = 0;
        if (!id || cairn_guid_parse(id, g) < 0)
                r = cairn_error_set(err, -EINVAL, "HNS namespace: no \"ID\" GUID in its properties");
        else
                *ret = cairn_xstrdup(id);
        json_decref(j);
        return r;
}

static char *dup_or_null(json_t *v)
{
        const char *s = json_string_value(v);
        return s ? cairn_xstrdup(s) : NULL;
}

int cairn_hcn_parse_network(const char *json, struct cairn_hcn_network *ret, struct cairn_error **err)
{
        json_t *j = load(json, "network", err);
        if (!j)
                return -EINVAL;
        if (!json_is_object(j)) {
                json_decref(j);
                return cairn_error_set(err, -EINVAL, "HNS network: expected a JSON object");
        }
        struct cairn_hcn_network n = { dup_or_null(json_object_get(j, "ID")), dup_or_null(json_object_get(j, "Name")),
                                       dup_or_null(json_object_get(j, "Type")), NULL, NULL };
        size_t i;
        json_t *ipam;
        json_array_foreach(json_object_get(j, "Ipams"), i, ipam) {
                json_t *subnet = json_array_get(json_object_get(ipam, "Subnets"), 0);
                if (!subnet)
                        continue;
                n.subnet = dup_or_null(json_object_get(subnet, "IpAddressPrefix"));
                size_t k;
                json_t *route;
                json_array_foreach(json_object_get(subnet, "Routes"), k, route) {
                        const char *dst = json_string_value(json_object_get(route, "DestinationPrefix"));
                        if (!n.gateway || (dst && strcmp(dst, "0.0.0.0/0") == 0)) {
                                free(n.gateway);
                                n.gateway = dup_or_null(json_object_get(route, "NextHop"));
                        }
                }
                if (n.subnet)
                        break;
        }
        /* HNS's version 1 documents (what PowerShell's Get-HnsNetwork
         * shows): Subnets[]{AddressPrefix, GatewayAddress}. */
        json_t *v1 = json_array_get(json_object_get(j, "Subnets"), 0);
        if (!n.subnet && v1) {
                n.subnet = dup_or_null(json_object_get(v1, "AddressPrefix"));
                free(n.gateway);
                n.gateway = dup_or_null(json_object_get(v1, "GatewayAddress"));
        }
        json_decref(j);
        *ret = n;
        return 0;
}

void cairn_hcn_network_clear(struct cairn_hcn_network *n)
{
        free(n->id);
        free(n->name);
        free(n->type);
        free(n->subnet);
        free(n->gateway);
        *n = (struct cairn_hcn_network) { 0 };
}

bool cairn_hcn_network_is_nat(const struct cairn_hcn_network *n)
{
        return n->type && strcasecmp(n->type, "NAT") == 0;
}

static void describe_networks(struct cairn_buf *b, const struct cairn_hcn_network *nets, size_t n, bool nat_only)
{
        bool first = true;
        for (size_t i = 0; i < n; i++) {
                if (nat_only && !cairn_hcn_network_is_nat(&nets[i]))
                        continue;
                cairn_buf_printf(b, "%s\"%s\" (%s%s%s)", first ? "" : ", ", nets[i].name ? nets[i].name : "?",
                                 nets[i].type ? nets[i].type : "no type", nets[i].subnet ? " " : "",
                                 nets[i].subnet ? nets[i].subnet : "");
                first = false;
        }
}

int cairn_hcn_choose_nat(const struct cairn_hcn_network *nets, size_t n, const char *name, struct cairn_error **err)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        int r = -ENOENT;
        if (name) {
                for (size_t i = 0; i < n && r < 0; i++)
                        if (nets[i].name && strcasecmp(nets[i].name, name) == 0)
                                r = (int) i;
                if (r < 0) {
                        describe_networks(&b, nets, n, false);
                        r = cairn_error_set(err, -ENOENT, "no network \"%s\" in HNS (it has %s)", name,
                                            n ? cairn_buf_str(&b) : "none");
                } else if (!cairn_hcn_network_is_nat(&nets[r])) {
                        r = cairn_error_set(err, -EINVAL,
                                            "the network \"%s\" is %s, not NAT: the nat plugin attaches only to NAT "
                                            "networks",
                                            nets[r].name, nets[r].type ? nets[r].type : "of no type");
                }
                cairn_buf_release(&b);
                return r;
        }
        size_t found = 0;
        for (size_t i = 0; i < n; i++)
                if (cairn_hcn_network_is_nat(&nets[i]) && found++ == 0)
                        r = (int) i;
        if (found == 0) {
                r = cairn_error_set(err, -ENOENT,
                                    "no NAT network in HNS: is Docker, or Windows' Containers feature, set up (it "
                                    "creates the NAT network at boot)?");
        } else if (found > 1) {
                describe_networks(&b, nets, n, true);
                r = cairn_error_set(err, -EEXIST, "%zu NAT networks in HNS (%s): choose one with --network NAME", found,
                                    cairn_buf_str(&b));
        }
        cairn_buf_release(&b);
        return r;
}

char *cairn_hcn_error_message(const char *what, long hr, const char *sys, const char *error_record)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "%s failed: HRESULT 0x%08lx", what, (unsigned long) hr & 0xffffffffUL);
        if (sys && *sys) {
                /* FormatMessage ends its text with CR LF. */
                size_t len = strlen(sys);
                while (len && (sys[len - 1] == '\n' || sys[len - 1] == '\r' || sys[len - 1] == ' '))
                        len--;
                cairn_buf_printf(&b, " (%.*s)", (int) len, sys);
        }
        json_t *rec = error_record && *error_record ? json_loads(error_record, 0, NULL) : NULL;
        const char *text = json_string_value(json_object_get(rec, "Error"));
        if (text && *text)
                cairn_buf_printf(&b, ": %s", text);
        else if (error_record && *error_record && !rec)
                cairn_buf_printf(&b, ": %s", error_record);
        json_decref(rec);
        return cairn_buf_steal(&b, NULL);
}

char *cairn_hcn_cni_config(const char *network_name, const char *subnet, const char *gateway)
{
        json_t *c = json_object();
        json_object_set_new(c, "cniVersion", json_string("0.2.0"));
        json_object_set_new(c, "name", json_string(network_name));
        json_object_set_new(c, "type", json_string("nat"));
        json_object_set_new(c, "master", json_string("Ethernet"));
        json_t *ipam = json_object();
        json_object_set_new(ipam, "subnet", json_string(subnet));
        json_t *routes = json_array();
        json_t *gw = json_object();
        json_object_set_new(gw, "GW", json_string(gateway));
        json_array_append_new(routes, gw);
        json_object_set_new(ipam, "routes", routes);
        json_object_set_new(c, "ipam", ipam);
        json_t *caps = json_object();
        json_object_set_new(caps, "portMappings", json_true());
        json_object_set_new(caps, "dns", json_true());
        json_object_set_new(c, "capabilities", caps);
        char *s = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(c);
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_adds(&b, s ? s : "{}");
        cairn_buf_addc(&b, '\n');
        free(s);
        return cairn_buf_steal(&b, NULL);
}

/* An IPv4 address, as Go's net.ParseIP takes one: four decimal bytes. */
static bool parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
        size_t i = 0;
        for (int k = 0; k < 4; k++) {
                if (k && (i >= len || s[i++] != '.'))
                        return false;
                unsigned v = 0;
                size_t start = i;
                while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
                        v = v * 10 + (unsigned) (s[i++] - '0');
                /* No empty field, no leading zero (Go refuses "01"). */
                if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
                        return false;
                out[k] = (uint8_t) v;
        }
        return i == len;
}

/* "a.b.c.d/n": the address as written and the prefix length. */
static bool parse_cidr4(const char *s, uint8_t addr[4], unsigned *prefix)
{
        const char *slash = s ? strchr(s, '/') : NULL;
        if (!slash || !parse_ipv4(s, (size_t) (slash - s), addr))
                return false;
        char *end = NULL;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || p > 32)
                return false;
        *prefix = (unsigned) p;
        return true;
}

static void masked(const uint8_t addr[4], unsigned prefix, uint8_t out[4])
{
        for (unsigned k = 0; k < 4; k++) {
                unsigned bits = prefix > 8 * k ? prefix - 8 * k : 0;
                out[k] = (uint8_t) (bits >= 8 ? addr[k] : addr[k] & (uint8_t) (0xff00u >> bits));
        }
}

/* Whether two subnets are the same network to the plugin (which keeps the
 * parsed, masked prefix); as text when either is not IPv4. */
static bool same_subnet(const char *a, const char *b)
{
        uint8_t x[4], y[4], mx[4], my[4];
        unsigned px, py;
        if (!parse_cidr4(a, x, &px) || !parse_cidr4(b, y, &py))
                return a && b && strcmp(a, b) == 0;
        masked(x, px, mx);
        masked(y, py, my);
        return px == py && memcmp(mx, my, 4) == 0;
}

static bool same_ip(const char *a, const char *b)
{
        uint8_t x[4], y[4];
        if (!a || !b)
                return false;
        if (!parse_ipv4(a, strlen(a), x) || !parse_ipv4(b, strlen(b), y))
                return strcmp(a, b) == 0;
        return memcmp(x, y, 4) == 0;
}

static void field_diff(struct cairn_buf *b, const char *field, const char *have, const char *want)
{
        cairn_buf_printf(b, "%s%s: the file has %s%s%s, HNS has \"%s\"", b->len ? "; " : "", field,
                         have ? "\"" : "", have ? have : "none", have ? "\"" : "", want);
}

char *cairn_hcn_cni_config_diff(const char *existing, size_t len, const char *network_name, const char *subnet,
                                const char *gateway)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        json_error_t je;
        json_t *j = json_loadb(existing, len, 0, &je);
        if (!json_is_object(j)) {
                if (j)
                        cairn_buf_adds(&b, "not a JSON object");
                else
                        cairn_buf_printf(&b, "not JSON (line %d, column %d: %s)", je.line, je.column, je.text);
                json_decref(j);
                return cairn_buf_steal(&b, NULL);
        }
        const char *type = json_string_value(json_object_get(j, "type"));
        if (!type || strcmp(type, "nat") != 0)
                field_diff(&b, "type", type, "nat");
        const char *name = json_string_value(json_object_get(j, "name"));
        if (!name || strcmp(name, network_name) != 0)
                field_diff(&b, "name", name, network_name);
        json_t *ipam = json_object_get(j, "ipam");
        const char *have_subnet = json_string_value(json_object_get(ipam, "subnet"));
        if (!same_subnet(have_subnet, subnet))
                field_diff(&b, "subnet", have_subnet, subnet);
        /* The route's GW, found as Go finds a struct field: a key equal to
         * "gw" in any case, the last one winning. */
        const char *gw = NULL;
        const char *key;
        json_t *v;
        json_object_foreach(json_array_get(json_object_get(ipam, "routes"), 0), key, v)
                if (strcasecmp(key, "gw") == 0)
                        gw = json_string_value(v);
        /* Without one the plugin takes the subnet's address plus one (its
         * last byte, wrapping). */
        char derived[32];
        uint8_t a[4];
        unsigned prefix;
        if (!gw && parse_cidr4(have_subnet, a, &prefix)) {
                snprintf(derived, sizeof(derived), "%u.%u.%u.%u", a[0], a[1], a[2], (uint8_t) (a[3] + 1));
                if (!same_ip(derived, gateway))
                        cairn_buf_printf(&b,
                                         "%sgateway: the file has no GW in ipam.routes[0], so the plugin takes "
                                         "\"%s\", HNS has \"%s\"",
                                         b.len ? "; " : "", derived, gateway);
        } else if (!same_ip(gw, gateway)) {
                cairn_buf_printf(&b, "%sgateway: the file has %s%s%s in ipam.routes[0].GW, HNS has \"%s\"",
                                 b.len ? "; " : "", gw ? "\"" : "", gw ? gw : "none", gw ? "\"" : "", gateway);
        }
        json_decref(j);
        if (!b.len) {
                cairn_buf_release(&b);
                return NULL;
        }
        return cairn_buf_steal(&b, NULL);
}
