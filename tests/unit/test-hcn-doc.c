/* SPDX-License-Identifier: Apache-2.0 */
/* The HNS documents and the CNI config of the Windows tools, natively. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "hcn/hcn-doc.h"
#include "tap.h"

static void test_guid(void)
{
        uint8_t g[16];
        ok(cairn_guid_parse("5f0e7f0e-1111-2222-3333-444455556666", g) == 0, "a GUID parses");
        /* Data1..3 little-endian, Data4 as written. */
        static const uint8_t want[16] = { 0x0e, 0x7f, 0x0e, 0x5f, 0x11, 0x11, 0x22, 0x22,
                                          0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66 };
        ok(memcmp(g, want, 16) == 0, "into Windows' GUID layout");
        char text[37];
        cairn_guid_format(g, text);
        is_str(text, "5f0e7f0e-1111-2222-3333-444455556666", "and back");
        ok(cairn_guid_parse("{5F0E7F0E-1111-2222-3333-444455556666}", g) == 0, "braces and capitals are accepted");
        cairn_guid_format(g, text);
        is_str(text, "5f0e7f0e-1111-2222-3333-444455556666", "and written in lower case");
        ok(cairn_guid_parse("not-a-guid", g) == -EINVAL, "junk is refused");
        ok(cairn_guid_parse("5f0e7f0e-1111-2222-3333-44445555666", g) == -EINVAL, "a short GUID is refused");
        ok(cairn_guid_parse("5f0e7f0e-1111-2222-3333-44445555666g", g) == -EINVAL, "a non-hex digit is refused");
}

static void test_documents(void)
{
        char *q = cairn_hcn_query_by_id("5f0e7f0e-1111-2222-3333-444455556666");
        is_str(q,
               "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Flags\":0,"
               "\"Filter\":\"{\\\"ID\\\":\\\"5f0e7f0e-1111-2222-3333-444455556666\\\"}\"}",
               "a query by ID is hcsshim's default query with a Filter document");
        free(q);

        char **ids = NULL;
        struct cairn_error *err = NULL;
        ok(cairn_hcn_parse_guid_list("[\"5f0e7f0e-1111-2222-3333-444455556666\",\"a6f2c3d1-0000-4000-8000-00000000aa01\"]",
                                     &ids, &err) == 0 && ids[0] && ids[1] && !ids[2],
           "an enumeration is a list of GUIDs");
        cairn_strv_free(ids);
        ok(cairn_hcn_parse_guid_list("[]", &ids, &err) == 0 && !ids[0], "an empty enumeration");
        cairn_strv_free(ids);
        ok(cairn_hcn_parse_guid_list("{\"x\":1}", &ids, &err) == -EINVAL && err, "an object is not a list");
        has_str(err ? err->message : "", "expected a JSON array", "and the error says so");
        cairn_error_free(err);
        err = NULL;
        ok(cairn_hcn_parse_guid_list("[\"x\"]", &ids, &err) == -EINVAL, "an item that is not a GUID is refused");
        cairn_error_free(err);
        err = NULL;

        char *id = NULL;
        ok(cairn_hcn_parse_namespace_id("{\"ID\":\"5f0e7f0e-1111-2222-3333-444455556666\",\"NamespaceId\":7,"
                                        "\"Type\":\"HostDefault\"}",
                                        &id, &err) == 0,
           "a namespace's properties");
        is_str(id, "5f0e7f0e-1111-2222-3333-444455556666", "give its ID");
        free(id);
        ok(cairn_hcn_parse_namespace_id("{\"NamespaceId\":7}", &id, &err) == -EINVAL, "properties without an ID");
        cairn_error_free(err);
        err = NULL;

        struct cairn_hcn_network n;
        ok(cairn_hcn_parse_network(
                   "{\"ID\":\"a6f2c3d1-0000-4000-8000-00000000aa01\",\"Name\":\"nat\",\"Type\":\"NAT\",\"Ipams\":[{"
                   "\"Type\":\"Static\",\"Subnets\":[{\"IpAddressPrefix\":\"172.20.16.0/20\",\"Routes\":[{\"NextHop\":"
                   "\"172.20.16.9\",\"DestinationPrefix\":\"10.0.0.0/8\"},{\"NextHop\":\"172.20.16.1\","
                   "\"DestinationPrefix\":\"0.0.0.0/0\"}]}]}]}",
                   &n, &err) == 0,
           "a NAT network's properties");
        is_str(n.subnet, "172.20.16.0/20", "its subnet is the IPAM subnet's IpAddressPrefix");
        is_str(n.gateway, "172.20.16.1", "its gateway the default route's NextHop");
        ok(cairn_hcn_network_is_nat(&n), "it is a NAT network");
        cairn_hcn_network_clear(&n);
        ok(cairn_hcn_parse_network("{\"Name\":\"ext\",\"Type\":\"Transparent\",\"Ipams\":[]}", &n, &err) == 0 &&
                   !n.subnet && !n.gateway && !cairn_hcn_network_is_nat(&n),
           "a network without IPAM has no subnet and is not NAT");
        cairn_hcn_network_clear(&n);
        ok(cairn_hcn_parse_network("{\"Name\":\"nat\",\"Type\":\"nat\",\"Subnets\":[{\"AddressPrefix\":\"172.17.32.0/20\","
                                   "\"GatewayAddress\":\"172.17.32.1\"}]}",
                                   &n, &err) == 0,
           "a version 1 document (as Get-HnsNetwork shows)");
        is_str(n.subnet, "172.17.32.0/20", "its AddressPrefix is the subnet");
        is_str(n.gateway, "172.17.32.1", "its GatewayAddress the gateway");
        ok(cairn_hcn_network_is_nat(&n), "type nat in lower case is NAT");
        cairn_hcn_network_clear(&n);
        ok(cairn_hcn_parse_network("[1]", &n, &err) == -EINVAL, "a network document must be an object");
        cairn_error_free(err);
        err = NULL;
}

static void test_messages(void)
{
        char *m = cairn_hcn_error_message("HcnDeleteNamespace", (long) 0x80070490, "Element not found.\r\n",
                                          "{\"Success\":false,\"Error\":\"Element not found.\",\"ErrorCode\":2147943568}");
        is_str(m, "HcnDeleteNamespace failed: HRESULT 0x80070490 (Element not found.): Element not found.",
               "an HRESULT, the system's text and the error record's");
        free(m);
        m = cairn_hcn_error_message("HcnCreateNamespace", (long) 0x80004005, NULL, NULL);
        is_str(m, "HcnCreateNamespace failed: HRESULT 0x80004005", "an HRESULT alone");
        free(m);
        m = cairn_hcn_error_message("HcnCreateNamespace", (long) 0x80004005, NULL, "not json");
        is_str(m, "HcnCreateNamespace failed: HRESULT 0x80004005: not json", "a record that is not JSON is quoted");
        free(m);
}

static void test_namespace_settings(void)
{
        /* containerd's netns_windows.go: an empty HostComputeNamespace,
         * schema 2.0 as every other document; no "Type":"HostDefault". */
        is_str(CAIRN_HCN_NAMESPACE_SETTINGS, "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}",
               "a new namespace is asked for as containerd asks for one");
}

static void test_choose(void)
{
        struct cairn_hcn_network nets[] = {
                { "id1", "ext", "Transparent", NULL, NULL },
                { "id2", "nat", "NAT", "172.20.16.0/20", "172.20.16.1" },
                { "id3", "build", "nat", "172.29.0.0/16", "172.29.0.1" },
        };
        struct cairn_error *err = NULL;
        ok(cairn_hcn_choose_nat(nets, 2, NULL, &err) == 1, "the only NAT network is chosen without a name");
        ok(cairn_hcn_choose_nat(nets, 3, NULL, &err) == -EEXIST, "with two NAT networks and no name, none is");
        is_str(err ? err->message : "",
               "2 NAT networks in HNS (\"nat\" (NAT 172.20.16.0/20), \"build\" (nat 172.29.0.0/16)): choose one with "
               "--network NAME",
               "and the error names them and says how to choose");
        cairn_error_free(err);
        err = NULL;
        ok(cairn_hcn_choose_nat(nets, 3, "BUILD", &err) == 2, "--network chooses by name, in any case");
        ok(cairn_hcn_choose_nat(nets, 3, "nat", &err) == 1, "either of them");
        ok(cairn_hcn_choose_nat(nets, 3, "ext", &err) == -EINVAL, "a named network that is not NAT is refused");
        is_str(err ? err->message : "",
               "the network \"ext\" is Transparent, not NAT: the nat plugin attaches only to NAT networks", "saying why");
        cairn_error_free(err);
        err = NULL;
        ok(cairn_hcn_choose_nat(nets, 3, "nope", &err) == -ENOENT, "an unknown name");
        has_str(err ? err->message : "", "no network \"nope\" in HNS (it has \"ext\" (Transparent), \"nat\" (NAT",
                "lists what there is");
        cairn_error_free(err);
        err = NULL;
        ok(cairn_hcn_choose_nat(nets, 1, NULL, &err) == -ENOENT, "no NAT network at all");
        has_str(err ? err->message : "", "no NAT network in HNS", "says so");
        cairn_error_free(err);
}

static void same(const char *file, const char *why)
{
        char *d = cairn_hcn_cni_config_diff(file, strlen(file), "nat", "172.20.16.0/20", "172.20.16.1");
        ok(d == NULL, "up to date: %s", why);
        if (d)
                tap_diag("%s", d);
        free(d);
}

static void differs(const char *file, const char *want, const char *why)
{
        char *d = cairn_hcn_cni_config_diff(file, strlen(file), "nat", "172.20.16.0/20", "172.20.16.1");
        is_str(d ? d : "(up to date)", want, "out of date: %s", why);
        free(d);
}

static void test_cni(void)
{
        char *c = cairn_hcn_cni_config("nat", "172.20.16.0/20", "172.20.16.1");
        is_str(c,
               "{\n  \"cniVersion\": \"0.2.0\",\n  \"name\": \"nat\",\n  \"type\": \"nat\",\n  \"master\": \"Ethernet\",\n"
               "  \"ipam\": {\n    \"subnet\": \"172.20.16.0/20\",\n    \"routes\": [\n      {\n        \"GW\": "
               "\"172.20.16.1\"\n      }\n    ]\n  },\n  \"capabilities\": {\n    \"portMappings\": true,\n    \"dns\": "
               "true\n  }\n}\n",
               "containerd's Windows NAT config, as its install script writes it, the gateway under the GW key the "
               "nat plugin reads");
        same(c, "what cni-config writes");
        free(c);
        same("{\"cniVersion\":\"0.2.0\",\"name\":\"nat\",\"type\":\"nat\",\"master\":\"Ethernet\",\"ipam\":{"
             "\"subnet\":\"172.20.16.0/20\",\"routes\":[{\"GW\":\"172.20.16.1\"}]},\"capabilities\":{"
             "\"portMappings\":true,\"dns\":true}}",
             "whatever its layout");
        /* What the seeds' fix-nat.ps1 writes (ConvertTo-Json): cniVersion
         * 0.3.0 and a "gateway" key, which the plugin does not read; it
         * takes the subnet's address plus one, the same gateway here. */
        same("{\r\n    \"capabilities\":  {\r\n                         \"dns\":  true,\r\n"
             "                         \"portMappings\":  true\r\n                     },\r\n"
             "    \"ipam\":  {\r\n                 \"routes\":  [\r\n                                {\r\n"
             "                                    \"gateway\":  \"172.20.16.1\"\r\n"
             "                                }\r\n                            ],\r\n"
             "                 \"subnet\":  \"172.20.16.0/20\"\r\n             },\r\n"
             "    \"name\":  \"nat\",\r\n    \"master\":  \"Ethernet\",\r\n    \"type\":  \"nat\",\r\n"
             "    \"cniVersion\":  \"0.3.0\"\r\n}\r\n",
             "fix-nat.ps1's file (cniVersion 0.3.0, a gateway key, CR LF)");
        same("{\"name\":\"nat\",\"type\":\"nat\",\"ipam\":{\"subnet\":\"172.20.16.0/20\",\"routes\":[{\"gw\":"
             "\"172.20.16.1\",\"dst\":\"0.0.0.0/0\"}]}}",
             "a lower-case gw key, and nothing the plugin does not read");
        same("{\"name\":\"nat\",\"type\":\"nat\",\"ipam\":{\"subnet\":\"172.20.16.5/20\",\"routes\":[{\"GW\":"
             "\"172.20.16.1\"}]}}",
             "a subnet written with a host address: the plugin masks it");
        differs("{\"name\":\"nat\",\"type\":\"nat\",\"ipam\":{\"subnet\":\"172.31.0.0/20\",\"routes\":[{\"GW\":"
                "\"172.31.0.1\"}]}}",
                "subnet: the file has \"172.31.0.0/20\", HNS has \"172.20.16.0/20\"; gateway: the file has "
                "\"172.31.0.1\" in ipam.routes[0].GW, HNS has \"172.20.16.1\"",
                "after a reboot changed the subnet, saying which fields differ");
        same("{\"name\":\"nat\",\"type\":\"nat\",\"ipam\":{\"subnet\":\"172.20.16.0/20\",\"routes\":[{\"gateway\":"
             "\"172.20.16.9\"}]}}",
             "a wrong gateway key is not read either: the plugin takes the subnet's address plus one");
        differs("{\"name\":\"nat\",\"type\":\"nat\",\"ipam\":{\"subnet\":\"172.20.16.8/20\",\"routes\":[{\"gateway\":"
                "\"172.20.16.1\"}]}}",
                "gateway: the file has no GW in ipam.routes[0], so the plugin takes \"172.20.16.9\", HNS has "
                "\"172.20.16.1\"",
                "a gateway key the plugin ignores, and the address it takes instead");
        differs("{\"name\":\"nat\",\"type\":\"nat\",\"ipam\":{\"subnet\":\"172.20.16.0/20\",\"routes\":[{\"GW\":"
                "\"172.20.16.254\"},{\"GW\":\"172.20.16.1\"}]}}",
                "gateway: the file has \"172.20.16.254\" in ipam.routes[0].GW, HNS has \"172.20.16.1\"",
                "only the first route counts");
        differs("{\"name\":\"Nat\",\"type\":\"sdnbridge\",\"ipam\":{\"subnet\":\"172.20.16.0/20\",\"routes\":[{\"GW\":"
                "\"172.20.16.1\"}]}}",
                "type: the file has \"sdnbridge\", HNS has \"nat\"; name: the file has \"Nat\", HNS has \"nat\"",
                "another plugin and another network name");
        differs("{", "not JSON (line 1, column 1: string or '}' expected near end of file)", "not JSON");
        differs("[]", "not a JSON object", "not an object");
}

int main(void)
{
        test_guid();
        test_documents();
        test_messages();
        test_namespace_settings();
        test_choose();
        test_cni();
        return tap_done();
}
