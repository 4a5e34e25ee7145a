/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path strings.  Portable: the Windows build uses the same functions, with
 * "\\" as its separator and drive letters for absolute paths ("/" is
 * accepted as a separator there too).
 */
#ifndef CAIRN_BASE_PATH_H
#define CAIRN_BASE_PATH_H

#include <stdbool.h>

#ifdef _WIN32
#define CAIRN_PATH_SEP '\\'
#else
#define CAIRN_PATH_SEP '/'
#endif

/* A relative path as "a/b/c": leading "/" and empty or "." components
 * dropped.  Returns NULL when a component is ".." (the caller decides
 * whether that is an error).  For paths inside a container's root, which
 * use "/" on every platform. */
char *cairn_path_normalise(const char *path);

/* prefix + name with every byte outside [-._A-Za-z0-9] as %XX (two hex
 * digits): an injective mapping of any name onto a safe file name. */
char *cairn_escape_filename(const char *prefix, const char *name);

/* name as a message shows it: printable ASCII and valid UTF-8 as they
 * are, '"' and '\\' behind a backslash, every other byte (controls, C1
 * controls, bidi and zero-width characters too) as \xNN.  For
 * names from untrusted sources (tar entries), which may hold control
 * characters or bytes that are no text. */
char *cairn_name_for_message(const char *name);

/* Join two host path parts with one separator: the one a already uses,
 * else the platform's ("/", or "\\" on Windows). */
char *cairn_path_join(const char *a, const char *b);

/* Whether a host path is absolute: "/x"; on Windows "C:\x", "C:/x" or
 * "\\server\share". */
bool cairn_path_is_absolute(const char *p);

/*
 * OCaml's Filename.is_relative and Filename.concat on this platform, which
 * OBuilder uses for workdirs and copy destinations: on Windows a drive
 * letter ("C:x" too) makes a path absolute, and concat joins with "\\"
 * unless dir already ends with "/", "\\" or ":".  No normalisation: the
 * result is hashed into step IDs.
 */
bool cairn_ocaml_is_relative(const char *p);
char *cairn_ocaml_concat(const char *dir, const char *file);

#endif
