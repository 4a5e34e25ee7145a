/* SPDX-License-Identifier: Apache-2.0 */
/* The store's config file (base/settings.h) and the limits it and the
 * command line set (sandbox/sandbox.h): what is read, what is refused,
 * and where the message points. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/settings.h"
#include "sandbox/sandbox.h"
#include "tap.h"

struct seen {
        char text[512];
};

static int record(const struct cairn_setting *s, void *ud, struct cairn_error **err)
{
        struct seen *v = ud;
        size_t n = strlen(v->text);
        snprintf(v->text + n, sizeof(v->text) - n, "[%u:%u:%u %s=%s]", s->line, s->key_col, s->value_col, s->key,
                 s->value);
        if (strcmp(s->key, "stop") == 0)
                return cairn_setting_error(err, s, 1, "no \"%s\" here", s->value);
        return 0;
}

static const char *parse(const char *text, struct seen *v)
{
        static char msg[512];
        struct cairn_error *err = NULL;
        v->text[0] = '\0';
        int r = cairn_settings_parse("c.conf", text, strlen(text), record, v, &err);
        snprintf(msg, sizeof(msg), "%s", r < 0 ? err->message : "");
        cairn_error_free(err);
        return msg;
}

int main(void)
{
        struct seen v;
        is_str(parse("# a comment\n\n  memory =  512M  \r\ncpus=2\nsecurity-opt = seccomp=unconfined", &v), "",
               "comments, blank lines, spaces, CRLF and a last line without a newline");
        is_str(v.text, "[3:3:13 memory=512M][4:1:6 cpus=2][5:1:16 security-opt=seccomp=unconfined]",
               "each setting with its line and columns; a value keeps its \"=\"");
        is_str(parse("a =\n", &v), "", "an empty value is the callback's to judge");
        is_str(v.text, "[1:1:4 a=]", "and is passed as \"\"");
        is_str(parse("ok = 1\n  = 2\n", &v), "c.conf:2:3: expected KEY = VALUE", "no key");
        is_str(parse("memory 1G\n", &v), "c.conf:1:8: expected \"=\" after \"memory\" (KEY = VALUE)", "no \"=\"");
        is_str(parse("memory\n", &v), "c.conf:1:7: expected \"=\" after \"memory\" (KEY = VALUE)", "a key alone");
        is_str(parse("a = 1\nstop =  here\nb = 2\n", &v), "c.conf:2:9: no \"here\" here",
               "the callback's error points at the value, and parsing stops");
        is_str(v.text, "[1:1:5 a=1][2:1:9 stop=here]", "b is never seen");
        char nul[] = "a = 1\nb = \0x\n";
        struct cairn_error *err = NULL;
        is_int(cairn_settings_parse("c.conf", nul, sizeof(nul) - 1, record, &v, &err), -EINVAL, "a NUL byte");
        is_str(err ? err->message : "", "c.conf:2: a NUL byte; this is not a text file", "is refused");
        cairn_error_free(err);

        /* The limits, as both the command line and the file read them. */
        struct cairn_step_limits l = { 0 };
        const char *expected = NULL;
        is_int(cairn_step_limit_set(&l, "memory", "512M", &expected), 0, "memory 512M");
        is_int(l.memory, 512ULL << 20, "in bytes");
        is_int(cairn_step_limit_set(&l, "memory", "2M", &expected), -EINVAL, "memory under 4M");
        is_str(expected, "a size of at least 4M (512M, 2G) or none", "says what it takes");
        is_int(cairn_step_limit_set(&l, "pids-limit", "none", &expected), 0, "pids-limit none");
        is_int(l.pids, -1, "is no limit (not the default)");
        is_int(cairn_step_limit_set(&l, "pids-limit", "0", &expected), -EINVAL, "pids-limit 0");
        is_int(cairn_step_limit_set(&l, "cpus", "0.5", &expected), 0, "cpus 0.5");
        ok(l.cpus == 0.5, "half a CPU");
        is_int(cairn_step_limit_set(&l, "cpus", "0", &expected), -EINVAL, "cpus 0");
        is_int(cairn_step_limit_set(&l, "step-timeout", "10m", &expected), 0, "step-timeout 10m");
        is_int(l.timeout_ms, 600000, "in ms");
        is_int(cairn_step_limit_set(&l, "step-timeout", "-1s", &expected), -EINVAL, "a negative duration");
        is_int(cairn_step_limit_set(&l, "timeout", "1s", &expected), -ENOENT, "a name that is no limit");
        is_int(l.set, CAIRN_LIMIT_MEMORY | CAIRN_LIMIT_PIDS | CAIRN_LIMIT_CPUS | CAIRN_LIMIT_TIMEOUT,
               "each limit set is marked");

        struct cairn_step_limits conf = { 0 }, cli = { 0 }, m;
        cairn_step_limit_set(&conf, "memory", "1G", &expected);
        cairn_step_limit_set(&conf, "step-timeout", "1h", &expected);
        cairn_step_limit_set(&cli, "memory", "none", &expected);
        cairn_step_limit_set(&cli, "cpus", "2", &expected);
        cairn_step_limits_merge(&m, &conf, &cli);
        is_int(m.memory, 0, "the command line's none wins over the file's memory");
        is_int(m.timeout_ms, 3600000, "the file's timeout stays where the command line says nothing");
        ok(m.cpus == 2, "the command line's cpus");
        is_int(m.pids, 0, "pids: neither says, the default");
        cairn_step_limits_merge(&m, NULL, NULL);
        is_int(m.set, 0, "no file, no options: nothing set");
        return tap_done();
}
