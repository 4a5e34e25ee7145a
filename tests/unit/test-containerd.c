/* SPDX-License-Identifier: Apache-2.0 */
/* The containerd formats: the mount lists `ctr snapshot prepare --mounts`
 * prints (containerd notes 2.3), OBuilder's layerinfo file (reference 10.1),
 * chain IDs (notes 2.1), the OCI configs given to `ctr run --config` (notes
 * 4.1, reference 5.1 and 10.3), `ctr snapshot ls` and the store options. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/compat.h"
#include "base/error.h"
#include "base/fs.h"
#include "containerd/ctr.h"
#include "sandbox/sandbox.h"
#include "tap.h"

static char tmpdir[] = "/tmp/cairn-test-containerd-XXXXXX";

/*
 * Windows paths in three spellings.  BS1 is one backslash of the path
 * itself; BS2 is how JSON and sexp quoted strings write it; BS4 is how it
 * appears in ctr's output inside the parentLayerPaths= option, which holds
 * a JSON array that is itself a JSON string.  Q2 is a double quote inside
 * that option as ctr's output writes it.
 */
#define BS1 "\\"
#define BS2 "\\\\"
#define BS4 "\\\\\\\\"
#define Q2 "\\\""
#define WINSNAP(bs) "C:" bs "ProgramData" bs "containerd" bs "root" bs "io.containerd.snapshotter.v1.windows" bs "snapshots" bs

#define OVL "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/"

/* containerd 1.6 (json.MarshalIndent, four spaces), a step three layers
 * deep: lowerdir holds the parents nearest first. */
static const char overlay_json[] =
        "[\n"
        "    {\n"
        "        \"Type\": \"overlay\",\n"
        "        \"Source\": \"overlay\",\n"
        "        \"Options\": [\n"
        "            \"index=off\",\n"
        "            \"workdir=" OVL "4/work\",\n"
        "            \"upperdir=" OVL "4/fs\",\n"
        "            \"lowerdir=" OVL "3/fs:" OVL "2/fs:" OVL "1/fs\"\n"
        "        ]\n"
        "    }\n"
        "]\n";

/* A prepare with no parent. */
static const char bind_json[] =
        "[\n"
        "    {\n"
        "        \"Type\": \"bind\",\n"
        "        \"Source\": \"" OVL "7/fs\",\n"
        "        \"Options\": [\n"
        "            \"rw\",\n"
        "            \"rbind\"\n"
        "        ]\n"
        "    }\n"
        "]\n";

/* containerd 2.x puts "Target" between Source and Options. */
static const char overlay2_json[] =
        "[\n"
        "    {\n"
        "        \"Type\": \"overlay\",\n"
        "        \"Source\": \"overlay\",\n"
        "        \"Target\": \"\",\n"
        "        \"Options\": [\n"
        "            \"index=off\",\n"
        "            \"workdir=" OVL "2/work\",\n"
        "            \"upperdir=" OVL "2/fs\",\n"
        "            \"lowerdir=" OVL "1/fs\"\n"
        "        ]\n"
        "    }\n"
        "]\n";

/* The Windows snapshotter: Source is the active snapshot; the option is
 * "parentLayerPaths=" + json.Marshal(parent paths). */
static const char windows_json[] =
        "[\n"
        "    {\n"
        "        \"Type\": \"windows-layer\",\n"
        "        \"Source\": \"" WINSNAP(BS2) "12\",\n"
        "        \"Options\": [\n"
        "            \"rw\",\n"
        "            \"parentLayerPaths=[" Q2 WINSNAP(BS4) "11" Q2 "," Q2 WINSNAP(BS4) "10" Q2 "]\"\n"
        "        ]\n"
        "    }\n"
        "]\n";

/* The same in the compact form of notes 2.3, with 2.x's Target. */
static const char windows_compact_json[] =
        "[{\"Type\":\"windows-layer\",\"Source\":\"" WINSNAP(BS2) "12\",\"Target\":\"\","
        "\"Options\":[\"rw\",\"parentLayerPaths=[" Q2 WINSNAP(BS4) "11" Q2 "," Q2 WINSNAP(BS4) "10" Q2 "]\"]}]";

static size_t strv_len(char **v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* Parse json expecting failure; checks the code and that the message
 * contains needle. */
static void mounts_fail(const char *json, const char *needle, const char *what)
{
        struct cairn_ctr_mount *m = NULL;
        size_t n = 99;
        struct cairn_error *e = NULL;
        int r = cairn_ctr_parse_mounts(json, &m, &n, &e);
        is_int(r, -EINVAL, "parse_mounts: %s is rejected with -EINVAL", what);
        ok(e && e->code == -EINVAL, "parse_mounts: %s: the error carries -EINVAL", what);
        has_str(e ? e->message : NULL, needle, "parse_mounts: %s: the message says what was expected", what);
        ok(m == NULL && n == 99, "parse_mounts: %s: the out-parameters are untouched", what);
        cairn_error_free(e);
}

static void test_parse_mounts(void)
{
        struct cairn_ctr_mount *m = NULL;
        size_t n = 0;
        struct cairn_error *e = NULL;

        is_int(cairn_ctr_parse_mounts(overlay_json, &m, &n, &e), 0, "parse_mounts: containerd 1.6 overlay shape");
        is_int(n, 1, "overlay: one mount");
        is_str(m[0].type, "overlay", "overlay: Type");
        is_str(m[0].source, "overlay", "overlay: Source");
        is_int(strv_len(m[0].options), 4, "overlay: four options");
        is_str(m[0].options[0], "index=off", "overlay: options in order (index)");
        is_str(m[0].options[3], "lowerdir=" OVL "3/fs:" OVL "2/fs:" OVL "1/fs", "overlay: options in order (lowerdir)");
        ok(m[1].type == NULL && m[1].source == NULL && m[1].options == NULL, "overlay: the array ends with a zeroed entry");
        is_str(cairn_ctr_mount_option(&m[0], "upperdir"), OVL "4/fs", "mount_option: upperdir");
        is_str(cairn_ctr_mount_option(&m[0], "workdir"), OVL "4/work", "mount_option: workdir");
        is_str(cairn_ctr_mount_option(&m[0], "index"), "off", "mount_option: index");
        is_str(cairn_ctr_mount_option(&m[0], "lowerdir"), OVL "3/fs:" OVL "2/fs:" OVL "1/fs",
               "mount_option: lowerdir keeps every directory");
        ok(cairn_ctr_mount_option(&m[0], "lower") == NULL, "mount_option: a prefix of a name does not match");
        ok(cairn_ctr_mount_option(&m[0], "parentLayerPaths") == NULL, "mount_option: a missing option is NULL");
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        is_int(cairn_ctr_parse_mounts(bind_json, &m, &n, &e), 0, "parse_mounts: bind shape (prepare without parent)");
        is_int(n, 1, "bind: one mount");
        is_str(m[0].type, "bind", "bind: Type");
        is_str(m[0].source, OVL "7/fs", "bind: Source");
        ok(strv_len(m[0].options) == 2 && strcmp(m[0].options[0], "rw") == 0 && strcmp(m[0].options[1], "rbind") == 0,
           "bind: options rw, rbind");
        ok(cairn_ctr_mount_option(&m[0], "rw") == NULL, "mount_option: a flag without '=' has no value");
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        is_int(cairn_ctr_parse_mounts(overlay2_json, &m, &n, &e), 0, "parse_mounts: containerd 2.x shape with \"Target\": \"\"");
        ok(n == 1 && strcmp(m[0].type, "overlay") == 0 && strcmp(m[0].source, "overlay") == 0, "2.x: Type and Source");
        is_int(strv_len(m[0].options), 4, "2.x: four options");
        is_str(cairn_ctr_mount_option(&m[0], "lowerdir"), OVL "1/fs", "2.x: lowerdir");
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        is_int(cairn_ctr_parse_mounts(windows_json, &m, &n, &e), 0, "parse_mounts: windows-layer shape");
        is_int(n, 1, "windows: one mount");
        is_str(m[0].type, "windows-layer", "windows: Type");
        is_str(m[0].source, WINSNAP(BS1) "12", "windows: Source has single backslashes once decoded");
        is_int(strv_len(m[0].options), 2, "windows: two options");
        is_str(m[0].options[0], "rw", "windows: rw");
        is_str(cairn_ctr_mount_option(&m[0], "parentLayerPaths"),
               "[\"" WINSNAP(BS2) "11\",\"" WINSNAP(BS2) "10\"]",
               "windows: parentLayerPaths= holds the JSON array as json.Marshal wrote it");
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        is_int(cairn_ctr_parse_mounts(windows_compact_json, &m, &n, &e), 0, "parse_mounts: compact windows-layer with Target");
        ok(n == 1 && strcmp(m[0].source, WINSNAP(BS1) "12") == 0 && strv_len(m[0].options) == 2,
           "compact windows: Source and options");
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        is_int(cairn_ctr_parse_mounts("[{\"type\":\"bind\",\"source\":\"/a\",\"options\":null},"
                                      "{\"Type\":\"tmpfs\",\"Source\":\"tmpfs\"}]",
                                      &m, &n, &e),
               0, "parse_mounts: lower-case keys, null and missing Options");
        ok(n == 2 && strcmp(m[0].source, "/a") == 0 && strv_len(m[0].options) == 0 && strv_len(m[1].options) == 0 &&
           m[0].options && m[1].options,
           "two mounts, each with an empty NULL-terminated option list");
        cairn_ctr_mounts_free(m, n);
        ok(e == NULL, "no error was set by the successful parses");

        mounts_fail("step1-tmp created", "snapshot mounts: line 1", "text that is not JSON");
        mounts_fail("", "snapshot mounts:", "empty output");
        mounts_fail("[]", "expected a non-empty JSON array of mounts", "an empty array");
        mounts_fail("{\"Type\":\"bind\",\"Source\":\"/a\",\"Options\":[\"rw\"]}", "expected a non-empty JSON array of mounts",
                    "an object instead of an array");
        mounts_fail("[{\"Source\":\"/a\",\"Options\":[\"rw\"]}]",
                    "mount 1: expected {\"Type\": string, \"Source\": string, \"Options\": [string]}",
                    "a mount without Type");
        mounts_fail("[{\"Type\":\"bind\",\"Source\":\"/a\",\"Options\":\"rw\"}]",
                    "mount 1: expected {\"Type\": string, \"Source\": string, \"Options\": [string]}",
                    "Options that is not an array");
        mounts_fail("[{\"Type\":\"bind\",\"Source\":\"/a\",\"Options\":[\"rw\"]},"
                    "{\"Type\":\"bind\",\"Source\":\"/b\",\"Options\":[\"rw\",1]}]",
                    "mount 2: option 2 is not a string", "an option that is not a string");
}

static void check_parents(char **got, const char *const *want, const char *what)
{
        size_t n = 0;
        while (want[n])
                n++;
        if (!is_int(strv_len(got), n, "%s: %zu parents", what, n))
                return;
        for (size_t i = 0; i < n; i++)
                is_str(got[i], want[i], "%s: parent %zu", what, i + 1);
}

static void layerinfo_of(const char *json, const char *key, struct cairn_layerinfo *li)
{
        struct cairn_ctr_mount *m = NULL;
        size_t n = 0;
        struct cairn_error *e = NULL;
        *li = (struct cairn_layerinfo) { 0 };
        if (cairn_ctr_parse_mounts(json, &m, &n, &e) < 0 || cairn_layerinfo_from_mounts(m, n, key, li, &e) < 0) {
                tap_diag("layerinfo_of: %s", e ? e->message : "?");
                cairn_error_free(e);
        }
        cairn_ctr_mounts_free(m, n);
}

static void test_layerinfo_from_mounts(void)
{
        struct cairn_layerinfo li;

        layerinfo_of(overlay_json, "obuilder-step3", &li);
        is_str(li.snapshot_key, "obuilder-step3", "from_mounts overlay: the key");
        is_str(li.source, OVL "4/fs", "from_mounts overlay: source is upperdir");
        check_parents(li.parents, (const char *const[]) { OVL "3/fs", OVL "2/fs", OVL "1/fs", NULL },
                      "from_mounts overlay: lowerdir split, nearest first");
        cairn_layerinfo_clear(&li);
        ok(li.snapshot_key == NULL && li.source == NULL && li.parents == NULL, "layerinfo_clear zeroes the record");

        layerinfo_of(overlay2_json, "k2", &li);
        is_str(li.source, OVL "2/fs", "from_mounts 2.x overlay: source");
        check_parents(li.parents, (const char *const[]) { OVL "1/fs", NULL }, "from_mounts 2.x overlay");
        cairn_layerinfo_clear(&li);

        layerinfo_of(bind_json, "obuilder-base-x", &li);
        is_str(li.source, OVL "7/fs", "from_mounts bind: source is Source");
        ok(li.parents && li.parents[0] == NULL, "from_mounts bind: no parents (an empty list, not NULL)");
        cairn_layerinfo_clear(&li);

        layerinfo_of(windows_json, "obuilder-4f3c2a", &li);
        is_str(li.source, WINSNAP(BS1) "12", "from_mounts windows-layer: source is Source");
        check_parents(li.parents, (const char *const[]) { WINSNAP(BS1) "11", WINSNAP(BS1) "10", NULL },
                      "from_mounts windows-layer: parentLayerPaths in order");
        cairn_layerinfo_clear(&li);

        /* A view of a two-layer overlay snapshot: no upperdir, the top
         * layer is the first lowerdir. */
        layerinfo_of("[{\"Type\":\"overlay\",\"Source\":\"overlay\",\"Options\":[\"index=off\",\"lowerdir=" OVL "2/fs:" OVL
                     "1/fs\"]}]",
                     "v", &li);
        is_str(li.source, OVL "2/fs", "from_mounts overlay view: source is the first lowerdir");
        check_parents(li.parents, (const char *const[]) { OVL "1/fs", NULL }, "from_mounts overlay view");
        cairn_layerinfo_clear(&li);

        /* A first layer on Windows has no parentLayerPaths option. */
        layerinfo_of("[{\"Type\":\"windows-layer\",\"Source\":\"" WINSNAP(BS2) "3\",\"Options\":[\"rw\"]}]", "w", &li);
        ok(li.source && strcmp(li.source, WINSNAP(BS1) "3") == 0 && li.parents && !li.parents[0],
           "from_mounts windows-layer without parentLayerPaths: no parents");
        cairn_layerinfo_clear(&li);

        struct cairn_ctr_mount *m = NULL;
        size_t n = 0;
        struct cairn_error *e = NULL;
        cairn_ctr_parse_mounts("[{\"Type\":\"tmpfs\",\"Source\":\"tmpfs\",\"Options\":[]}]", &m, &n, &e);
        li = (struct cairn_layerinfo) { 0 };
        is_int(cairn_layerinfo_from_mounts(m, n, "k", &li, &e), -EINVAL, "from_mounts: an unknown type is an error");
        has_str(e ? e->message : NULL, "unsupported mount type \"tmpfs\"", "from_mounts: the message names the type");
        ok(li.snapshot_key == NULL, "from_mounts: *ret untouched on error");
        cairn_error_free(e);
        e = NULL;
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        cairn_ctr_parse_mounts("[{\"Type\":\"windows-layer\",\"Source\":\"C:\\\\x\",\"Options\":[\"parentLayerPaths=C:\\\\y\"]}]",
                               &m, &n, &e);
        is_int(cairn_layerinfo_from_mounts(m, n, "k", &li, &e), -EINVAL,
               "from_mounts: parentLayerPaths that is not a JSON array is an error");
        has_str(e ? e->message : NULL, "parentLayerPaths is not a JSON array", "from_mounts: and says so");
        cairn_error_free(e);
        e = NULL;
        cairn_ctr_mounts_free(m, n);

        m = NULL;
        cairn_ctr_parse_mounts("[{\"Type\":\"overlay\",\"Source\":\"overlay\",\"Options\":[\"index=off\"]}]", &m, &n, &e);
        is_int(cairn_layerinfo_from_mounts(m, n, "k", &li, &e), -EINVAL, "from_mounts: overlay without any layer dir");
        cairn_error_free(e);
        cairn_ctr_mounts_free(m, n);
}

/* The record of reference 10.1 with the paths written out. */
#define REF_TEXT                                                         \
        "((snapshot_key obuilder-4f3c2a)\n"                              \
        " (source \"" WINSNAP(BS2) "42\")\n"                             \
        " (parent_layer_paths\n"                                         \
        "  (\"" WINSNAP(BS2) "41\"\n"                                    \
        "   \"" WINSNAP(BS2) "7\")))\n"

/* Exactly what OBuilder's Sexplib.Sexp.to_string_hum (sexplib v0.15)
 * writes for that record: Format breaks the long source onto its own line. */
#define OBUILDER_TEXT                                                     \
        "((snapshot_key obuilder-4f3c2a)\n"                               \
        " (source\n"                                                      \
        "  \"" WINSNAP(BS2) "42\")\n"                                     \
        " (parent_layer_paths\n"                                          \
        "  (\"" WINSNAP(BS2) "41\"\n"                                     \
        "   \"" WINSNAP(BS2) "7\")))\n"

static void check_ref_record(const struct cairn_layerinfo *li, const char *what)
{
        is_str(li->snapshot_key, "obuilder-4f3c2a", "%s: snapshot_key", what);
        is_str(li->source, WINSNAP(BS1) "42", "%s: source", what);
        check_parents(li->parents, (const char *const[]) { WINSNAP(BS1) "41", WINSNAP(BS1) "7", NULL }, what);
}

static void test_layerinfo_text(void)
{
        char *parents[] = { WINSNAP(BS1) "41", WINSNAP(BS1) "7", NULL };
        struct cairn_layerinfo li = { "obuilder-4f3c2a", WINSNAP(BS1) "42", parents };
        char *text = cairn_layerinfo_format(&li);
        is_str(text, REF_TEXT, "layerinfo_format: reference 10.1, backslashes doubled inside quotes");

        struct cairn_layerinfo back = { 0 };
        struct cairn_error *e = NULL;
        is_int(cairn_layerinfo_parse("layerinfo", text, strlen(text), &back, &e), 0, "layerinfo_parse reads it back");
        check_ref_record(&back, "format/parse round trip");
        cairn_layerinfo_clear(&back);
        free(text);

        char *none[] = { NULL };
        struct cairn_layerinfo li0 = { "obuilder-4f3c2a", WINSNAP(BS1) "42", none };
        text = cairn_layerinfo_format(&li0);
        is_str(text,
               "((snapshot_key obuilder-4f3c2a)\n"
               " (source \"" WINSNAP(BS2) "42\")\n"
               " (parent_layer_paths ()))\n",
               "layerinfo_format: no parents prints (parent_layer_paths ())");
        is_int(cairn_layerinfo_parse("layerinfo", text, strlen(text), &back, &e), 0, "and that reads back");
        ok(back.parents && back.parents[0] == NULL, "with an empty parent list");
        cairn_layerinfo_clear(&back);
        free(text);
        li0.parents = NULL;
        text = cairn_layerinfo_format(&li0);
        has_str(text, " (parent_layer_paths ()))\n", "layerinfo_format: a NULL parent list is empty too");
        free(text);

        /* Linux paths need no quotes, as sexplib prints them. */
        char *lp[] = { OVL "1/fs", NULL };
        struct cairn_layerinfo lli = { "obuilder-base-x", OVL "2/fs", lp };
        text = cairn_layerinfo_format(&lli);
        is_str(text,
               "((snapshot_key obuilder-base-x)\n"
               " (source " OVL "2/fs)\n"
               " (parent_layer_paths\n"
               "  (" OVL "1/fs)))\n",
               "layerinfo_format: bare atoms for paths that need no quoting");
        free(text);

        /* An atom with a space, a quote and a non-ASCII byte. */
        char *qp[] = { "C:\\a b\\\"q\"\\\xc3\xa9", NULL };
        struct cairn_layerinfo qli = { "k", "", qp };
        text = cairn_layerinfo_format(&qli);
        is_str(text,
               "((snapshot_key k)\n"
               " (source \"\")\n"
               " (parent_layer_paths\n"
               "  (\"C:\\\\a b\\\\\\\"q\\\"\\\\\\195\\169\")))\n",
               "layerinfo_format: OCaml escapes for quotes, backslashes and bytes >= 0x80; empty atom quoted");
        is_int(cairn_layerinfo_parse("layerinfo", text, strlen(text), &back, &e), 0, "and that reads back");
        ok(back.source && back.source[0] == '\0' && back.parents && back.parents[0] &&
           strcmp(back.parents[0], qp[0]) == 0 && !back.parents[1],
           "to the same bytes");
        cairn_layerinfo_clear(&back);
        free(text);

        /* The file as OBuilder writes it. */
        static const char obuilder[] = OBUILDER_TEXT;
        is_int(cairn_layerinfo_parse("layerinfo", obuilder, strlen(obuilder), &back, &e), 0,
               "layerinfo_parse: OBuilder's to_string_hum output");
        check_ref_record(&back, "OBuilder's file");
        cairn_layerinfo_clear(&back);

        /* The reference's own example, abbreviated with a raw UTF-8 "…",
         * and the same as sexplib escapes it (\DDD). */
        static const char ref_literal[] =
                "((snapshot_key obuilder-4f3c2a)\n"
                " (source \"" WINSNAP(BS2) "42\")\n"
                " (parent_layer_paths\n"
                "  (\"C:\\\\…\\\\snapshots\\\\41\" \"C:\\\\…\\\\snapshots\\\\7\")))\n";
        is_int(cairn_layerinfo_parse("layerinfo", ref_literal, strlen(ref_literal), &back, &e), 0,
               "layerinfo_parse: the reference 10.1 example as printed there");
        is_str(back.snapshot_key, "obuilder-4f3c2a", "reference example: key");
        is_str(back.source, WINSNAP(BS1) "42", "reference example: source");
        check_parents(back.parents, (const char *const[]) { "C:\\…\\snapshots\\41", "C:\\…\\snapshots\\7", NULL },
                      "reference example");
        cairn_layerinfo_clear(&back);
        static const char ref_escaped[] =
                "((snapshot_key obuilder-4f3c2a)\n"
                " (source\n"
                "  \"" WINSNAP(BS2) "42\")\n"
                " (parent_layer_paths\n"
                "  (\"C:\\\\\\226\\128\\166\\\\snapshots\\\\41\" \"C:\\\\\\226\\128\\166\\\\snapshots\\\\7\")))\n";
        is_int(cairn_layerinfo_parse("layerinfo", ref_escaped, strlen(ref_escaped), &back, &e), 0,
               "layerinfo_parse: the example as sexplib writes it, with \\DDD escapes");
        check_parents(back.parents, (const char *const[]) { "C:\\…\\snapshots\\41", "C:\\…\\snapshots\\7", NULL },
                      "escaped reference example");
        cairn_layerinfo_clear(&back);
        ok(e == NULL, "no error was set by the successful parses");

        static const struct {
                const char *text, *needle, *what;
        } bad[] = {
                { "((snapshot_key k) (source s))\n",
                  "f/layerinfo: expected ((snapshot_key KEY) (source PATH) (parent_layer_paths (PATH ...)))",
                  "a missing field" },
                { "((snapshot_key k) (source s) (parent_layer_paths p))\n",
                  "f/layerinfo: expected ((snapshot_key KEY) (source PATH) (parent_layer_paths (PATH ...)))",
                  "parents not a list" },
                { "((snapshot_key (k)) (source s) (parent_layer_paths ()))\n",
                  "f/layerinfo: expected ((snapshot_key KEY)", "a key that is a list" },
                { "((snapshot_key k) (source s) (parent_layer_paths (a (b))))\n",
                  "f/layerinfo: parent_layer_paths: expected paths", "a parent that is a list" },
                { "obuilder-4f3c2a\n", "f/layerinfo: expected ((snapshot_key KEY)", "an atom" },
                { "((snapshot_key k) (source \"C:\\\\x\")\n", "f/layerinfo:", "an unclosed list" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                back = (struct cairn_layerinfo) { 0 };
                e = NULL;
                int r = cairn_layerinfo_parse("f/layerinfo", bad[i].text, strlen(bad[i].text), &back, &e);
                ok(r < 0 && e && e->code == r, "layerinfo_parse: %s is an error (%d)", bad[i].what, r);
                has_str(e ? e->message : NULL, bad[i].needle, "layerinfo_parse: %s: message", bad[i].what);
                ok(back.snapshot_key == NULL && back.parents == NULL, "layerinfo_parse: %s: *ret untouched", bad[i].what);
                cairn_error_free(e);
        }
}

static void put(const char *rel, const char *content)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
        FILE *f = fopen(path, "w");
        if (!f) {
                tap_diag("cannot write %s", path);
                return;
        }
        fputs(content, f);
        fclose(f);
}

static void test_layerinfo_files(void)
{
        char dir[512], path[600];
        struct cairn_layerinfo li = { 0 };
        struct cairn_error *e = NULL;
        snprintf(dir, sizeof(dir), "%s/result", tmpdir);
        mkdir(dir, 0755);
        snprintf(path, sizeof(path), "%s/rootfs", dir);
        mkdir(path, 0755);

        is_int(cairn_layerinfo_load(dir, &li, &e), 0, "layerinfo_load: 0 when there is no layerinfo");
        ok(e == NULL && li.snapshot_key == NULL, "layerinfo_load: no error, *ret untouched");

        put("result/layerinfo", "((snapshot_key top) (source /top) (parent_layer_paths ()))\n");
        is_int(cairn_layerinfo_load(dir, &li, &e), 1, "layerinfo_load: DIR/layerinfo");
        is_str(li.snapshot_key, "top", "layerinfo_load: falls back to DIR/layerinfo");
        cairn_layerinfo_clear(&li);

        put("result/rootfs/layerinfo", "((snapshot_key base) (source /base) (parent_layer_paths (/p1 /p2)))\n");
        is_int(cairn_layerinfo_load(dir, &li, &e), 1, "layerinfo_load: both files");
        is_str(li.snapshot_key, "base", "layerinfo_load: DIR/rootfs/layerinfo comes first");
        check_parents(li.parents, (const char *const[]) { "/p1", "/p2", NULL }, "layerinfo_load rootfs");
        cairn_layerinfo_clear(&li);

        snprintf(path, sizeof(path), "%s/rootfs/layerinfo", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/layerinfo", dir);
        char *parents[] = { WINSNAP(BS1) "41", WINSNAP(BS1) "7", NULL };
        struct cairn_layerinfo w = { "obuilder-4f3c2a", WINSNAP(BS1) "42", parents };
        is_int(cairn_layerinfo_save(path, &w, &e), 0, "layerinfo_save over an existing file");
        is_int(cairn_layerinfo_load(dir, &li, &e), 1, "layerinfo_load after save");
        check_ref_record(&li, "save/load round trip");
        cairn_layerinfo_clear(&li);

        char *data = NULL;
        FILE *f = fopen(path, "r");
        if (f) {
                data = cairn_xzalloc(4096);
                size_t got = fread(data, 1, 4095, f);
                data[got] = '\0';
                fclose(f);
        }
        is_str(data, REF_TEXT, "layerinfo_save writes layerinfo_format's text");
        free(data);

        put("result/layerinfo", "((snapshot_key top) (source /top))\n");
        int r = cairn_layerinfo_load(dir, &li, &e);
        ok(r == -EINVAL && e, "layerinfo_load: a malformed file is an error (%d)", r);
        has_str(e ? e->message : NULL, "/result/layerinfo: expected ((snapshot_key", "and the message names the file");
        cairn_error_free(e);
}

static void test_chain_id(void)
{
        char out[72];
        struct cairn_error *e = NULL;
        /* busybox: one layer, whose chain ID is its diff ID (notes 2.1). */
        const char *one[] = { "sha256:5daab027274c89ebb9ae4de2187a9405b5088911297b1b55e3d4172783b8ff96" };
        is_int(cairn_chain_id(one, 1, out, &e), 0, "chain_id: one layer");
        is_str(out, one[0], "chain_id: one layer is the diff ID itself");

        /* diff IDs: sha256 of "layer-a", "layer-b", "layer-c"; chain IDs
         * computed with python3 hashlib:
         * chain[n] = "sha256:" + sha256(chain[n-1] + " " + diff_ids[n]). */
        const char *ids[] = {
                "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3",
                "sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d",
                "sha256:e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201",
        };
        is_int(cairn_chain_id(ids, 2, out, &e), 0, "chain_id: two layers");
        is_str(out, "sha256:267c5fd16af60e52927fabf0a36a31f3b5a2069347f7f00c7bd7f93f6ebc01f4", "chain_id: two layers");
        is_int(cairn_chain_id(ids, 3, out, &e), 0, "chain_id: three layers");
        is_str(out, "sha256:82c0ed5f6c15be9b9180a8c04b9f2c676d74af6db13c711f5bb47a0fa43b56df", "chain_id: three layers");
        ok(e == NULL, "chain_id: no error on success");

        static const struct {
                const char *id, *what;
        } bad[] = {
                { "589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3", "no sha256: prefix" },
                { "sha512:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3", "another algorithm" },
                { "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de", "63 hex digits" },
                { "sha256:589F0D58B9053A4FF7329B8FDB4F9DD120E29354C086AD0B3B10733F6CFD6DE3", "upper-case hex" },
                { "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3 ", "a trailing space" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *v[] = { ids[0], bad[i].id };
                e = NULL;
                is_int(cairn_chain_id(v, 2, out, &e), -EINVAL, "chain_id: %s is -EINVAL", bad[i].what);
                has_str(e ? e->message : NULL, "is not sha256:HEX", "chain_id: %s: message", bad[i].what);
                cairn_error_free(e);
        }
        e = NULL;
        is_int(cairn_chain_id(ids, 0, out, &e), -EINVAL, "chain_id: zero layers is -EINVAL");
        has_str(e ? e->message : NULL, "without layers", "chain_id: zero layers: message");
        cairn_error_free(e);
}

static const char *const win_args[] = { "cmd", "/S", "/C", "echo hi", NULL };
static const char *const win_env[] = { "A=1", NULL };
static const char *const win_layers[] = { WINSNAP(BS1) "11", WINSNAP(BS1) "10", WINSNAP(BS1) "12", NULL };

static void test_oci_windows(void)
{
        const struct cairn_oci_mount mounts[] = {
                { .src = "C:\\obuilder\\secrets\\0", .dst = "C:\\secret", .readonly = true },
                { .src = "C:\\obuilder\\cache-tmp\\0-opam", .dst = "C:\\Users\\opam\\.opam\\download-cache", .readonly = false },
        };
        struct cairn_oci_spec s = {
                .argv = win_args,
                .env = win_env,
                .cwd = "C:\\",
                .layer_folders = win_layers,
                .network_namespace = "8c9a2f0e-3b5d-4c7a-9e1f-2d6b8a4c0e13",
                .mounts = mounts,
                .n_mounts = 2,
        };
        char *got = cairn_oci_config_windows(&s);
        is_str(got,
               "{\"ociVersion\":\"1.1.0\","
               "\"process\":{\"terminal\":false,\"user\":{\"username\":\"ContainerAdministrator\"},"
               "\"args\":[\"cmd\",\"/S\",\"/C\",\"echo hi\"],\"commandLine\":\"cmd /S /C \\\"echo hi\\\"\","
               "\"env\":[\"A=1\"],\"cwd\":\"C:\\\\\"},"
               "\"root\":{\"path\":\"\",\"readonly\":false},"
               "\"hostname\":\"builder\","
               "\"windows\":{\"layerFolders\":[\"" WINSNAP(BS2) "11\",\"" WINSNAP(BS2) "10\",\"" WINSNAP(BS2) "12\"],"
               "\"ignoreFlushesDuringBoot\":true,"
               "\"network\":{\"allowUnqualifiedDNSQuery\":true,\"networkNamespace\":\"8c9a2f0e-3b5d-4c7a-9e1f-2d6b8a4c0e13\"}},"
               "\"mounts\":["
               "{\"destination\":\"C:\\\\secret\",\"source\":\"C:\\\\obuilder\\\\secrets\\\\0\","
               "\"options\":[\"ro\"]},"
               "{\"destination\":\"C:\\\\Users\\\\opam\\\\.opam\\\\download-cache\","
               "\"source\":\"C:\\\\obuilder\\\\cache-tmp\\\\0-opam\"}]}",
               "oci_config_windows: network, layer folders, mounts as hcsshim reads them (no type; \"ro\" alone "
               "for read-only)");
        free(got);

        s.network_namespace = NULL;
        s.mounts = NULL;
        s.n_mounts = 0;
        got = cairn_oci_config_windows(&s);
        is_str(got,
               "{\"ociVersion\":\"1.1.0\","
               "\"process\":{\"terminal\":false,\"user\":{\"username\":\"ContainerAdministrator\"},"
               "\"args\":[\"cmd\",\"/S\",\"/C\",\"echo hi\"],\"commandLine\":\"cmd /S /C \\\"echo hi\\\"\","
               "\"env\":[\"A=1\"],\"cwd\":\"C:\\\\\"},"
               "\"root\":{\"path\":\"\",\"readonly\":false},"
               "\"hostname\":\"builder\","
               "\"windows\":{\"layerFolders\":[\"" WINSNAP(BS2) "11\",\"" WINSNAP(BS2) "10\",\"" WINSNAP(BS2) "12\"],"
               "\"ignoreFlushesDuringBoot\":true}}",
               "oci_config_windows: no network and no mounts leave both keys out");
        free(got);

        s.username = "ContainerUser";
        got = cairn_oci_config_windows(&s);
        is_str(got,
               "{\"ociVersion\":\"1.1.0\","
               "\"process\":{\"terminal\":false,\"user\":{\"username\":\"ContainerUser\"},"
               "\"args\":[\"cmd\",\"/S\",\"/C\",\"echo hi\"],\"commandLine\":\"cmd /S /C \\\"echo hi\\\"\","
               "\"env\":[\"A=1\"],\"cwd\":\"C:\\\\\"},"
               "\"root\":{\"path\":\"\",\"readonly\":false},"
               "\"hostname\":\"builder\","
               "\"windows\":{\"layerFolders\":[\"" WINSNAP(BS2) "11\",\"" WINSNAP(BS2) "10\",\"" WINSNAP(BS2) "12\"],"
               "\"ignoreFlushesDuringBoot\":true}}",
               "oci_config_windows: username ContainerUser");
        free(got);
}

static void command_line(const char *const *argv, const char *want, const char *what)
{
        char *got = cairn_windows_command_line(argv);
        is_str(got ? got : "(none)", want, "windows_command_line: %s", what);
        free(got);
}

static void test_windows_command_line(void)
{
        command_line((const char *const[]) { "cmd", "/S", "/C", "echo \"a b\" & type \"C:\\x y\\f\"", NULL },
                     "cmd /S /C \"echo \"a b\" & type \"C:\\x y\\f\"\"",
                     "a shell string's quotes reach cmd as written, the whole in one pair that /S drops");
        command_line((const char *const[]) { "CMD.EXE", "/s", "/c", "dir", NULL }, "CMD.EXE /s /c \"dir\"",
                     "cmd.exe and the switches in any case");
        command_line((const char *const[]) { "cmd", "/S", "/C", "", NULL }, "cmd /S /C \"\"", "an empty command");
        command_line((const char *const[]) { "C:\\cygwin64\\bin\\bash.exe", "-lc", "echo \"x\"", NULL }, "(none)",
                     "another shell keeps args (its own argv parsing reads Windows' quoting)");
        command_line((const char *const[]) { "cmd", "/C", "echo x", NULL }, "(none)", "cmd without /S keeps args");
        command_line((const char *const[]) { "tar", "-xf", "C:\\cairn-copy\\data.tar", NULL }, "(none)",
                     "a program's argv");
}

static bool json_strings_are(json_t *a, const char *const *want)
{
        size_t n = 0;
        while (want[n])
                n++;
        if (!json_is_array(a) || json_array_size(a) != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(a, i));
                if (!s || strcmp(s, want[i]) != 0)
                        return false;
        }
        return true;
}

static json_t *find_mount(json_t *ms, const char *dst)
{
        for (size_t i = 0; i < json_array_size(ms); i++) {
                json_t *m = json_array_get(ms, i);
                const char *d = json_string_value(json_object_get(m, "destination"));
                if (d && strcmp(d, dst) == 0)
                        return m;
        }
        return NULL;
}

static bool has_string(json_t *a, const char *s)
{
        for (size_t i = 0; i < json_array_size(a); i++) {
                const char *v = json_string_value(json_array_get(a, i));
                if (v && strcmp(v, s) == 0)
                        return true;
        }
        return false;
}

static void test_oci_linux(void)
{
        static const char *const args[] = { "/bin/sh", "-c", "echo hi > /out", NULL };
        static const char *const env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                                           NULL };
        const struct cairn_oci_mount mounts[] = {
                { .src = "/var/lib/cairn/secret-0", .dst = "/run/secrets/token", .readonly = true },
                { .src = "/var/lib/cairn/cache/c-opam", .dst = "/home/opam/.opam/download-cache", .readonly = false },
        };
        struct cairn_oci_spec s = {
                .argv = args,
                .env = env,
                .cwd = "/src",
                .uid = 1000,
                .gid = 1001,
                .root_path = "/run/cairn/rootfs-3",
                .mounts = mounts,
                .n_mounts = 2,
        };
        char *text = cairn_oci_config_linux(&s);
        json_error_t je;
        json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (!ok(json_is_object(j), "oci_config_linux: a JSON object")) {
                tap_diag("%s", text ? je.text : "NULL");
                free(text);
                return;
        }
        ok(strchr(text, '\n') == NULL, "oci_config_linux: compact");
        free(text);
        json_t *p = json_object_get(j, "process"), *root = json_object_get(j, "root"), *lx = json_object_get(j, "linux");
        is_str(json_string_value(json_object_get(root, "path")), "/run/cairn/rootfs-3", "linux: root.path");
        ok(json_is_false(json_object_get(root, "readonly")), "linux: root read-write");
        is_str(json_string_value(json_object_get(j, "hostname")), "builder", "linux: hostname builder");
        ok(json_is_false(json_object_get(p, "terminal")), "linux: no terminal");
        json_t *user = json_object_get(p, "user");
        is_int(json_integer_value(json_object_get(user, "uid")), 1000, "linux: process.user.uid");
        is_int(json_integer_value(json_object_get(user, "gid")), 1001, "linux: process.user.gid");
        ok(json_object_get(user, "username") == NULL, "linux: no username");
        ok(json_strings_are(json_object_get(p, "args"), args), "linux: args");
        ok(json_strings_are(json_object_get(p, "env"), env), "linux: env");
        is_str(json_string_value(json_object_get(p, "cwd")), "/src", "linux: cwd");

        static const char *const caps[] = {
                "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_SETGID",
                "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL,
        };
        json_t *c = json_object_get(p, "capabilities");
        static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted" };
        for (size_t i = 0; i < 4; i++)
                ok(json_strings_are(json_object_get(c, sets[i]), caps), "linux: the 12 capabilities of reference 5.1 in %s",
                   sets[i]);
        ok(!has_string(json_object_get(c, "bounding"), "CAP_NET_RAW") &&
           !has_string(json_object_get(c, "bounding"), "CAP_NET_BIND_SERVICE"),
           "linux: without NET_RAW and NET_BIND_SERVICE");

        json_t *rl = json_object_get(p, "rlimits");
        json_t *nofile = json_array_get(rl, 0);
        ok(json_array_size(rl) == 1 && nofile, "linux: one rlimit");
        is_str(json_string_value(json_object_get(nofile, "type")), "RLIMIT_NOFILE", "linux: RLIMIT_NOFILE");
        ok(json_integer_value(json_object_get(nofile, "soft")) == 1024 &&
           json_integer_value(json_object_get(nofile, "hard")) == 1024,
           "linux: NOFILE 1024/1024");
        ok(json_is_false(json_object_get(p, "noNewPrivileges")), "linux: noNewPrivileges false");

        json_t *ns = json_object_get(lx, "namespaces");
        static const char *const kinds[] = { "pid", "ipc", "uts", "mount", "network" };
        bool all = json_array_size(ns) == 5;
        for (size_t i = 0; all && i < 5; i++) {
                const char *t = json_string_value(json_object_get(json_array_get(ns, i), "type"));
                all = t && strcmp(t, kinds[i]) == 0 && json_object_get(json_array_get(ns, i), "path") == NULL;
        }
        ok(all, "linux: namespaces pid ipc uts mount network, all new");
        ok(has_string(json_object_get(lx, "maskedPaths"), "/proc/kcore"), "linux: maskedPaths has /proc/kcore");
        ok(has_string(json_object_get(lx, "readonlyPaths"), "/proc/sysrq-trigger"), "linux: readonlyPaths has /proc/sysrq-trigger");

        json_t *ms = json_object_get(j, "mounts");
        json_t *proc = find_mount(ms, "/proc");
        ok(proc && strcmp(json_string_value(json_object_get(proc, "type")), "proc") == 0, "linux: /proc is mounted");
        json_t *ro = find_mount(ms, "/run/secrets/token"), *rw = find_mount(ms, "/home/opam/.opam/download-cache");
        ok(ro && rw, "linux: both bind mounts are there");
        if (ro && rw) {
                is_str(json_string_value(json_object_get(ro, "type")), "bind", "linux: ro mount type bind");
                is_str(json_string_value(json_object_get(ro, "source")), "/var/lib/cairn/secret-0", "linux: ro mount source");
                ok(has_string(json_object_get(ro, "options"), "ro") && has_string(json_object_get(ro, "options"), "rbind"),
                   "linux: the read-only mount has ro and rbind");
                is_str(json_string_value(json_object_get(rw, "source")), "/var/lib/cairn/cache/c-opam", "linux: rw mount source");
                ok(!has_string(json_object_get(rw, "options"), "ro") && has_string(json_object_get(rw, "options"), "rbind"),
                   "linux: the read-write mount has rbind and no ro");
        }
        json_decref(j);

        s.host_network = true;
        s.n_mounts = 0;
        s.cwd = NULL;
        text = cairn_oci_config_linux(&s);
        j = text ? json_loads(text, 0, &je) : NULL;
        free(text);
        ns = json_object_get(json_object_get(j, "linux"), "namespaces");
        all = json_array_size(ns) == 4;
        for (size_t i = 0; all && i < 4; i++) {
                const char *t = json_string_value(json_object_get(json_array_get(ns, i), "type"));
                all = t && strcmp(t, kinds[i]) == 0;
        }
        ok(all, "linux host_network: pid ipc uts mount, no network namespace");
        is_str(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")), "/", "linux: cwd defaults to /");
        ok(find_mount(json_object_get(j, "mounts"), "/run/secrets/token") == NULL, "linux: no bind mounts when none given");
        json_t *res = json_object_get(json_object_get(j, "linux"), "resources");
        is_int(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), CAIRN_DEFAULT_PIDS_LIMIT,
               "linux: the default pids limit, as the native sandbox's");
        ok(!json_object_get(res, "memory") && !json_object_get(res, "cpu"), "linux: no memory or CPU limit unless asked");
        json_decref(j);

        s.memory = 256ULL << 20;
        s.pids = 64;
        s.cpus = 1.5;
        text = cairn_oci_config_linux(&s);
        j = text ? json_loads(text, 0, &je) : NULL;
        free(text);
        res = json_object_get(json_object_get(j, "linux"), "resources");
        is_int(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 64, "linux: --pids-limit");
        is_int(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")), 256 << 20, "linux: --memory");
        is_int(json_integer_value(json_object_get(json_object_get(res, "memory"), "swap")), 256 << 20,
               "linux: swap included (memory+swap at the same limit)");
        is_int(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")), 150000, "linux: --cpus as a quota");
        is_int(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")), 100000, "linux: per 100 ms");
        json_decref(j);
        s.pids = -1;
        text = cairn_oci_config_linux(&s);
        j = text ? json_loads(text, 0, &je) : NULL;
        free(text);
        ok(!json_object_get(json_object_get(json_object_get(j, "linux"), "resources"), "pids"), "linux: pids-limit none");
        json_decref(j);
}

/* Bytes that are not UTF-8 become U+FFFD (as ctr's Go decoder would make
 * them) instead of vanishing from the command. */
static void test_oci_not_utf8(void)
{
#define FFFD "\xef\xbf\xbd"
        static const char *const args[] = { "/bin/sh", "-c", "echo caf\xe9", "caf\xc3\xa9", NULL };
        static const char *const env[] = { "A=\xff", "B=\xed\xa0\x80" "x", "C=\xc0\xaf" "\xe2\x82", "D=\xf4\x8f\xbf\xbf", NULL };
        static const char *const want_args[] = { "/bin/sh", "-c", "echo caf" FFFD, "caf\xc3\xa9", NULL };
        static const char *const want_env[] = { "A=" FFFD, "B=" FFFD FFFD FFFD "x", "C=" FFFD FFFD FFFD FFFD,
                                                "D=\xf4\x8f\xbf\xbf", NULL };
        struct cairn_oci_spec s = { .argv = args, .env = env, .cwd = "/tmp/\xff", .root_path = "/r" };
        char *text = cairn_oci_config_linux(&s);
        json_t *j = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        json_t *p = json_object_get(j, "process");
        ok(json_strings_are(json_object_get(p, "args"), want_args),
           "oci_config_linux: an argument with a byte that is not UTF-8 is kept, the byte as U+FFFD");
        ok(json_strings_are(json_object_get(p, "env"), want_env),
           "oci_config_linux: env: lone bytes, surrogates, overlong and cut sequences become U+FFFD per byte");
        is_str(json_string_value(json_object_get(p, "cwd")), "/tmp/" FFFD, "oci_config_linux: cwd likewise");
        json_decref(j);

        static const char *const wargs[] = { "cmd", "/C", "echo caf\xe9", NULL };
        static const char *const lf[] = { "C:\\a", "C:\\b", NULL };
        struct cairn_oci_spec w = { .argv = wargs, .layer_folders = lf };
        text = cairn_oci_config_windows(&w);
        has_str(text, "\"args\":[\"cmd\",\"/C\",\"echo caf" FFFD "\"]", "oci_config_windows: likewise");
        free(text);
#undef FFFD
}

static void test_snapshots(void)
{
        /* As ctr's tabwriter lays it out: an image layer has an empty
         * PARENT column, which leaves two fields. */
        static const char listing[] =
                "KEY                                                                     PARENT                                                                  KIND\n"
                "obuilder-base-9d75f0d7-committed                                        obuilder-base-9d75f0d7                                                  Committed\n"
                "obuilder-base-9d75f0d7                                                  sha256:5daab027274c89ebb9ae4de2187a9405b5088911297b1b55e3d4172783b8ff96 Active\n"
                "sha256:5daab027274c89ebb9ae4de2187a9405b5088911297b1b55e3d4172783b8ff96                                                                         Committed\n"
                "view-1                                                                  obuilder-base-9d75f0d7-committed                                        View\n";
        struct cairn_ctr_snapshot *v = NULL;
        size_t n = 0;
        cairn_ctr_parse_snapshots(listing, &v, &n);
        if (!is_int(n, 4, "parse_snapshots: four rows, header skipped"))
                return;
        is_str(v[0].key, "obuilder-base-9d75f0d7-committed", "row 1 key");
        is_str(v[0].parent, "obuilder-base-9d75f0d7", "row 1 parent");
        is_str(v[0].kind, "Committed", "row 1 kind");
        is_str(v[1].parent, "sha256:5daab027274c89ebb9ae4de2187a9405b5088911297b1b55e3d4172783b8ff96", "row 2 parent");
        is_str(v[1].kind, "Active", "row 2 kind");
        is_str(v[2].key, "sha256:5daab027274c89ebb9ae4de2187a9405b5088911297b1b55e3d4172783b8ff96",
               "row 3 (no parent) key");
        is_str(v[2].parent, "", "row 3: no parent is \"\"");
        is_str(v[2].kind, "Committed", "row 3 kind");
        is_str(v[3].kind, "View", "row 4 kind");
        cairn_ctr_snapshots_free(v, n);

        cairn_ctr_parse_snapshots("KEY PARENT KIND\n", &v, &n);
        ok(n == 0, "parse_snapshots: a header alone is no snapshot");
        cairn_ctr_snapshots_free(v, n);
        cairn_ctr_parse_snapshots("", &v, &n);
        ok(n == 0, "parse_snapshots: empty output");
        cairn_ctr_snapshots_free(v, n);
        cairn_ctr_parse_snapshots("KEY\tPARENT\tKIND\r\na\tb\tActive\r\n\r\n", &v, &n);
        ok(n == 1 && strcmp(v[0].key, "a") == 0 && strcmp(v[0].parent, "b") == 0 && strcmp(v[0].kind, "Active") == 0,
           "parse_snapshots: tabs and CRLF (ctr.exe)");
        cairn_ctr_snapshots_free(v, n);
}

static void test_nanoserver(void)
{
        is_str(cairn_nanoserver_image(17763), "mcr.microsoft.com/windows/nanoserver:ltsc2019", "Server 2019: ltsc2019");
        is_str(cairn_nanoserver_image(20348), "mcr.microsoft.com/windows/nanoserver:ltsc2022", "Server 2022: ltsc2022");
        is_str(cairn_nanoserver_image(26100), "mcr.microsoft.com/windows/nanoserver:ltsc2025", "Server 2025: ltsc2025");
        is_str(cairn_nanoserver_image(22631), "mcr.microsoft.com/windows/nanoserver:ltsc2022",
               "Windows 11 23H2: the newest image not newer than the host");
        is_str(cairn_nanoserver_image(19045), "mcr.microsoft.com/windows/nanoserver:ltsc2019", "Windows 10 22H2: ltsc2019");
        is_str(cairn_nanoserver_image(0), "mcr.microsoft.com/windows/nanoserver:ltsc2025", "unknown: OBuilder's ltsc2025");
}

static void test_options(void)
{
        struct cairn_ctr c = { 0 };
        struct cairn_error *e = NULL;
        is_int(cairn_ctr_set_option(&c, "namespace=cairn", &e), 0, "set_option namespace");
        is_str(c.namespace, "cairn", "namespace is set");
        is_int(cairn_ctr_set_option(&c, "snapshotter=windows", &e), 0, "set_option snapshotter");
        is_str(c.snapshotter, "windows", "snapshotter is set");
        is_int(cairn_ctr_set_option(&c, "address=/run/c.sock", &e), 0, "set_option address");
        is_str(c.address, "/run/c.sock", "address is set");
        is_int(cairn_ctr_set_option(&c, "cni-conf-dir=/etc/cni/a=b", &e), 0, "set_option with '=' in the value");
        is_str(c.cni_conf_dir, "/etc/cni/a=b", "the value is everything after the first '='");
        is_int(cairn_ctr_set_option(&c, "hcn-namespace=C:\\tools\\hcn-namespace.exe", &e), 0, "set_option hcn-namespace");
        is_str(c.hcn_namespace, "C:\\tools\\hcn-namespace.exe", "hcn_namespace is set");
        is_int(cairn_ctr_set_option(&c, "namespace=other", &e), 0, "set_option again");
        is_str(c.namespace, "other", "a later value replaces the earlier one");
        is_int(cairn_ctr_set_option(&c, "snapshotter=", &e), 0, "set_option with an empty value");
        ok(c.snapshotter == NULL, "an empty value resets the field to its default");
        ok(e == NULL, "no error on valid options");

        const char *const args[] = { "snapshot", "ls", NULL };
        c.snapshotter = cairn_xstrdup("native");
        char **argv = cairn_ctr_argv(&c, args);
        ok(argv && strcmp(argv[0], "ctr") == 0 && strcmp(argv[1], "--address=/run/c.sock") == 0 &&
           strcmp(argv[2], "--namespace=other") == 0 && strcmp(argv[3], "snapshot") == 0 &&
           strcmp(argv[4], "--snapshotter=native") == 0 && strcmp(argv[5], "ls") == 0 && argv[6] == NULL,
           "ctr_argv: global options, then --snapshotter after \"snapshot\"");
        cairn_strv_free(argv);

        int r = cairn_ctr_set_option(&c, "namespaces=x", &e);
        is_int(r, -EINVAL, "set_option: an unknown key is -EINVAL");
        has_str(e ? e->message : NULL, "unknown containerd store option \"namespaces\"", "the message quotes the key");
        has_str(e ? e->message : NULL,
                "expected one of ctr, address, namespace, snapshotter, runtime, platform, cni-conf-dir, hcn-namespace",
                "the message lists the valid keys");
        cairn_error_free(e);
        e = NULL;

        is_int(cairn_ctr_set_option(&c, "isolation=process", &e), 0, "set_option isolation=process");
        r = cairn_ctr_set_option(&c, "isolation=hyperv", &e);
        is_int(r, -ENOTSUP, "set_option: isolation=hyperv is refused");
        has_str(e ? e->message : NULL, "Hyper-V isolation is not supported yet", "saying so");
        has_str(e ? e->message : NULL, "use isolation=process", "and what to use");
        cairn_error_free(e);
        e = NULL;
        r = cairn_ctr_set_option(&c, "isolation=vm", &e);
        is_int(r, -EINVAL, "set_option: another isolation is a usage error");
        cairn_error_free(e);
        e = NULL;

        r = cairn_ctr_set_option(&c, "namespace", &e);
        is_int(r, -EINVAL, "set_option: no '=' is -EINVAL");
        has_str(e ? e->message : NULL, "store option \"namespace\": expected KEY=VALUE", "the message says KEY=VALUE");
        cairn_error_free(e);
        e = NULL;
        r = cairn_ctr_set_option(&c, "=x", &e);
        is_int(r, -EINVAL, "set_option: an empty key is -EINVAL");
        cairn_error_free(e);
        is_str(c.namespace, "other", "failed options leave the fields alone");

        cairn_ctr_clear(&c);
        ok(!c.ctr && !c.address && !c.namespace && !c.snapshotter && !c.runtime && !c.platform && !c.cni_conf_dir &&
           !c.hcn_namespace,
           "ctr_clear frees and resets every string");
}

int main(void)
{
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        test_parse_mounts();
        test_layerinfo_from_mounts();
        test_layerinfo_text();
        test_layerinfo_files();
        test_chain_id();
        test_oci_windows();
        test_windows_command_line();
        test_oci_linux();
        test_nanoserver();
        test_oci_not_utf8();
        test_snapshots();
        test_options();
        struct cairn_error *e = NULL;
        if (cairn_rm_rf(tmpdir, &e) < 0) {
                tap_diag("%s", e->message);
                cairn_error_free(e);
        }
        return tap_done();
}
