/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON documents of the Host Compute Network service (HNS), and the
 * containerd CNI config made from them.  Plain C, no Windows API: built
 * into the Windows tools and unit-tested natively.
 *
 * What HNS sends and takes follows hcsshim's hcn package (containerd-notes
 * section 4.3): every enumerate and query call takes CAIRN_HCN_QUERY;
 * enumerations answer a JSON array of GUID strings; a namespace's
 * properties carry its "ID"; a network's carry "Name", "Type" and
 * "Ipams"[]."Subnets"[]{"IpAddressPrefix", "Routes"[]{"NextHop"}}; a
 * failure comes with an error record {"Error": TEXT, "ErrorCode": N, ...}.
 */
#ifndef CAIRN_HCN_HCN_DOC_H
#define CAIRN_HCN_HCN_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define CAIRN_HCN_QUERY "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Flags\":0}"
/*
 * A new namespace, as containerd makes one for `ctr run --cni` and its CRI
 * (pkg/netns/netns_windows.go): an empty hcn.HostComputeNamespace{},
 * which names no Type (HostDefault would be the host's default
 * compartment), in schema 2.0, the version of every other document here
 * (Go's encoder writes the empty struct's zero version; HNS takes both).
 */
#define CAIRN_HCN_NAMESPACE_SETTINGS "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}"

/* GUIDs as text, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (braces allowed on
 * input), and as the 16 bytes of a Windows GUID (Data1..3 little-endian,
 * as in memory on x86). */
int cairn_guid_parse(const char *s, uint8_t out[16]);
void cairn_guid_format(const uint8_t guid[16], char out[37]);

/* CAIRN_HCN_QUERY filtered to one ID (caller frees). */
char *cairn_hcn_query_by_id(const char *guid);

/* ["GUID", ...] -> NULL-terminated strings (cairn_strv_free). */
int cairn_hcn_parse_guid_list(const char *json, char ***ret, struct cairn_error **err);

/* A namespace's properties -> its "ID". */
int cairn_hcn_parse_namespace_id(const char *json, char **ret, struct cairn_error **err);

struct cairn_hcn_network {
        char *id;
        char *name;
        char *type;        /* "NAT", "Transparent", "ICS", ... */
        char *subnet;      /* the first IPAM subnet's IpAddressPrefix, "172.20.16.0/20" */
        char *gateway;     /* its default route's NextHop (or the first route's) */
};
int cairn_hcn_parse_network(const char *json, struct cairn_hcn_network *ret, struct cairn_error **err);
void cairn_hcn_network_clear(struct cairn_hcn_network *n);
/* Whether n is a NAT network: Type "NAT", in any case. */
bool cairn_hcn_network_is_nat(const struct cairn_hcn_network *n);
/*
 * The network a CNI config is for: with a name, the network of that name
 * (any case), which must be NAT; without, the only NAT network.  Returns
 * its index in nets; an error when there is none, or when there are
 * several and no name to choose between them (HNS keeps no order to
 * guess by).
 */
int cairn_hcn_choose_nat(const struct cairn_hcn_network *nets, size_t n, const char *name, struct cairn_error **err);

/*
 * A failed HRESULT as one line: "HRESULT 0x80070490 (Element not found.)"
 * and, from the error record when there is one, its "Error" text.  sys is
 * the system's text for hr (FormatMessage), or NULL.
 */
char *cairn_hcn_error_message(const char *what, long hr, const char *sys, const char *error_record);

/*
 * containerd's CNI config for Windows NAT (what its install-cni-windows
 * script writes), for the network's subnet and gateway.
 */
char *cairn_hcn_cni_config(const char *network_name, const char *subnet, const char *gateway);
/*
 * Whether existing (a config file's text) says to the nat plugin
 * (microsoft/windows-container-networking) what cairn_hcn_cni_config
 * would.  Only what the plugin reads counts: "type" (which plugin ctr
 * runs), "name" (the HNS network it attaches to), "ipam"."subnet", and the
 * gateway, which is the GW of "ipam"."routes"[0] (Go matches JSON keys in
 * any case: "GW", "gw"), else the subnet's address plus one.  So "master",
 * "cniVersion", a "gateway" key (which the plugin never reads) and the
 * layout do not.  NULL when it does; else which fields differ, as one line
 * (the caller frees).
 */
char *cairn_hcn_cni_config_diff(const char *existing, size_t len, const char *network_name, const char *subnet,
                                const char *gateway);

#endif
