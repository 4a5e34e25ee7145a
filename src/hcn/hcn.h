/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client of the Host Compute Network service: computenetwork.dll,
 * loaded when first needed (LoadLibraryExW from System32), so that a host
 * without it gets a clear error instead of an executable that does not
 * start.  Strings cross the API as UTF-16; what HNS returns is freed with
 * CoTaskMemFree.  Windows only.
 */
#ifndef CAIRN_HCN_HCN_H
#define CAIRN_HCN_HCN_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "base/error.h"
#include "hcn/hcn-doc.h"

struct cairn_hcn;

int cairn_hcn_open(struct cairn_hcn **ret, struct cairn_error **err);
void cairn_hcn_close(struct cairn_hcn *h);

/* A new HostDefault namespace; *ret_guid is its ID as text. */
int cairn_hcn_namespace_create(struct cairn_hcn *h, char **ret_guid, struct cairn_error **err);
/* Delete a namespace.  One that does not exist is not an error (as
 * containerd): returns 0, or 1 when it was there and is gone. */
int cairn_hcn_namespace_delete(struct cairn_hcn *h, const char *guid, struct cairn_error **err);
int cairn_hcn_namespace_list(struct cairn_hcn *h, char ***ret, struct cairn_error **err);
/* Every network, with its properties. */
int cairn_hcn_network_list(struct cairn_hcn *h, struct cairn_hcn_network **ret, size_t *ret_n,
                           struct cairn_error **err);

#endif
