/* SPDX-License-Identifier: Apache-2.0 */
/* cairn-hcn.exe: `cairn hcn` on its own, also OBuilder's hcn-namespace. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
        return cmd_hcn(argc, argv);
}
