/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tar names are bytes.  libarchive converts the names of PAX headers
 * (path, linkpath, uname, gname: UTF-8 by the standard, or raw bytes with
 * hdrcharset=BINARY) to and from the current locale's charset.  Under
 * LANG=C, or for a name that is not valid UTF-8, the conversion fails: the
 * reader then keeps the name's original bytes and returns ARCHIVE_WARN;
 * the writer stores the raw bytes with hdrcharset=BINARY and returns
 * ARCHIVE_WARN.  In both cases the entry is whole and its names are the
 * bytes cairn wants, so these wrappers take that warning as success and
 * pass every other result through.
 *
 * Loading libarchive sets LC_CTYPE to C.UTF-8 (cairn_tar_locale), where
 * the conversion of valid UTF-8 is the identity: names are never rewritten for
 * the locale the caller happened to run under (a Latin-1 locale would
 * otherwise turn "é" into one byte), and export writes plain UTF-8 PAX
 * records, not BINARY ones, for UTF-8 names.
 */
#ifndef CAIRN_BASE_TAR_H
#define CAIRN_BASE_TAR_H

#include <archive.h>
#include <archive_entry.h>

#include "base/error.h"

/* Load libarchive if it is not yet (base/dl.h; nothing to do on Windows):
 * call before the first archive_*_new of a command, for a clear error when
 * the library is missing.  Any libarchive call loads it anyway, and exits
 * with that error if it cannot. */
int cairn_tar_load(struct cairn_error **err);

/* archive_read_next_header, with a name-conversion warning as ARCHIVE_OK. */
int cairn_tar_next_header(struct archive *a, struct archive_entry **ret);

/* archive_write_header, with a name-conversion warning as ARCHIVE_OK. */
int cairn_tar_write_header(struct archive *a, struct archive_entry *e);

/* Call on a new pax writer.  On Windows, where there is no UTF-8 locale,
 * libarchive (3.6) converts names from the ANSI code page and cannot write
 * one the code page lacks: names (UTF-8, as Windows' own come to cairn)
 * are written as their bytes, marked hdrcharset=BINARY, which readers that
 * know the record take as bytes and Go's archive/tar (containerd, hcsshim)
 * ignores.  Elsewhere this does nothing. */
void cairn_tar_writer_names(struct archive *a);

/* Make LC_CTYPE UTF-8 (C.UTF-8) for libarchive's name conversions; a no-op
 * where there is no such locale or on Windows.  Called when libarchive is
 * loaded (on Windows nothing is), never before: a command that does not
 * use libarchive (a cached build) does not read the locale's files, nor
 * runs in the caller's locale, since it never calls setlocale.
 * setlocale is not safe while another thread runs: code that starts
 * threads which use libarchive calls cairn_tar_load first. */
void cairn_tar_locale(void);

#endif
