/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the S-expression reader and the spec parser.
 *
 * Beyond "no crash, no leak, no undefined behaviour" (the sanitizers' job),
 * it checks the printers' contract on every input that parses:
 *   - the canonical form parses again, to the same spec (same machine form);
 *   - printing is idempotent: fmt(fmt(x)) == fmt(x);
 *   - the Dockerfile export and the op printer run to completion.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strbuf.h"
#include "spec/dockerfile.h"
#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what, const struct cairn_buf *a, const struct cairn_buf *b)
{
        if (cond)
                return;
        fprintf(stderr, "fuzz-spec: %s\n--- first\n%s\n--- second\n%s\n", what, cairn_buf_str(a),
                b ? cairn_buf_str(b) : "");
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cairn_error *err = NULL;
        struct cairn_spec *spec = NULL;
        if (cairn_spec_parse("fuzz", (const char *) data, size, &spec, &err) < 0) {
                check(err != NULL && err->message[0] != '\0', "failure without a message", &(struct cairn_buf) CAIRN_BUF_INIT, NULL);
                cairn_error_free(err);
                return 0;
        }
        struct cairn_buf text = CAIRN_BUF_INIT, mach = CAIRN_BUF_INIT;
        cairn_spec_print(&text, spec);
        cairn_spec_print_mach(&mach, spec);

        struct cairn_spec *again = NULL;
        int r = cairn_spec_parse("fuzz-printed", text.data, text.len, &again, &err);
        if (r < 0)
                fprintf(stderr, "%s\n", err->message);
        check(r >= 0, "the canonical form does not parse", &text, NULL);

        struct cairn_buf text2 = CAIRN_BUF_INIT, mach2 = CAIRN_BUF_INIT;
        cairn_spec_print(&text2, again);
        cairn_spec_print_mach(&mach2, again);
        check(mach.len == mach2.len && memcmp(mach.data, mach2.data, mach.len) == 0,
              "the canonical form parses to a different spec", &mach, &mach2);
        check(text.len == text2.len && memcmp(text.data, text2.data, text.len) == 0,
              "printing is not idempotent", &text, &text2);

        struct cairn_buf df = CAIRN_BUF_INIT;
        struct cairn_error *warnings = NULL;
        for (int os = 0; os < 2; os++)
                for (int bk = 0; bk < 2; bk++) {
                        struct cairn_dockerfile_options o = { .buildkit = bk, .os = os };
                        cairn_dockerfile_write(&df, spec, &o, &warnings);
                }
        for (size_t i = 0; i < spec->n_ops; i++) {
                struct cairn_pp pp = { &df, 3 };
                cairn_spec_print_op(&pp, &spec->ops[i]);
        }
        cairn_error_free(warnings);
        cairn_buf_release(&df);
        cairn_buf_release(&text);
        cairn_buf_release(&text2);
        cairn_buf_release(&mach);
        cairn_buf_release(&mach2);
        cairn_spec_free(spec);
        cairn_spec_free(again);
        return 0;
}
