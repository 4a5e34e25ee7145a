/* SPDX-License-Identifier: Apache-2.0 */
#include "base/alloc.h"

void cairn_memory_for_large_work(void)
{
}
