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
/* What hcsshim's NewNamespace(HostDefault).Create() sends. */
#define CAIRN_HCN_NAMESPACE_SETTINGS "{\"Type\":\"HostDefault\",\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}"

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
/* The NAT network: Type "NAT" (any case), else Name "nat". */
bool cairn_hcn_network_is_nat(const struct cairn_hcn_network *n, const char *name);

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
/* Whether existing (a config file's text) already says what
 * cairn_hcn_cni_config would: same subnet, gateway and name; formatting
 * is ignored. */
bool cairn_hcn_cni_config_matches(const char *existing, size_t len, const char *network_name, const char *subnet,
                                  const char *gateway);

#endif
