/* SPDX-License-Identifier: Apache-2.0 */
/* A manifest as OBuilder's sexp (what copy IDs hash); no filesystem, so
 * the Windows build shares it. */
#include "manifest/manifest.h"

void cairn_manifest_write(struct cairn_sexp_writer *w, const struct cairn_manifest *m)
{
        static const char *const kinds[] = {
                [CAIRN_MANIFEST_FILE] = "File", [CAIRN_MANIFEST_SYMLINK] = "Symlink", [CAIRN_MANIFEST_DIR] = "Dir"
        };
        cairn_sexp_write_open(w);
        cairn_sexp_write_atom(w, kinds[m->kind]);
        cairn_sexp_write_open(w);
        cairn_sexp_write_atom(w, m->path);
        switch (m->kind) {
        case CAIRN_MANIFEST_FILE:
                cairn_sexp_write_atomn(w, m->hash, CAIRN_SHA256_HEX_LEN);
                break;
        case CAIRN_MANIFEST_SYMLINK:
                cairn_sexp_write_atom(w, m->target);
                break;
        case CAIRN_MANIFEST_DIR:
                cairn_sexp_write_open(w);
                for (size_t i = 0; i < m->n_children; i++)
                        cairn_manifest_write(w, m->children[i]);
                cairn_sexp_write_close(w);
                break;
        }
        cairn_sexp_write_close(w);
        cairn_sexp_write_close(w);
}
