/* SPDX-License-Identifier: Apache-2.0 */
/* A manifest as OBuilder's sexp (what copy IDs hash); no filesystem, so
 * the Windows build shares it. */
#include "manifest/manifest.h"

struct cairn_sexp *cairn_manifest_to_sexp(struct cairn_arena *a, const struct cairn_manifest *m)
{
        struct cairn_sexp *path = cairn_sexp_atom(a, m->path);
        switch (m->kind) {
        case CAIRN_MANIFEST_FILE:
                return cairn_sexp_list(a, cairn_sexp_atom(a, "File"),
                                       cairn_sexp_list(a, path, cairn_sexp_atom(a, m->hash), NULL), NULL);
        case CAIRN_MANIFEST_SYMLINK:
                return cairn_sexp_list(a, cairn_sexp_atom(a, "Symlink"),
                                       cairn_sexp_list(a, path, cairn_sexp_atom(a, m->target), NULL), NULL);
        case CAIRN_MANIFEST_DIR:
                break;
        }
        struct cairn_sexp **items = cairn_arena_array(a, m->n_children, sizeof(*items));
        for (size_t i = 0; i < m->n_children; i++)
                items[i] = cairn_manifest_to_sexp(a, m->children[i]);
        return cairn_sexp_list(a, cairn_sexp_atom(a, "Dir"),
                               cairn_sexp_list(a, path, cairn_sexp_listv(a, items, m->n_children), NULL), NULL);
}
