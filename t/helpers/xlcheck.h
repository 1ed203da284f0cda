/*
 * xlcheck: a Xen domain configuration read by Xen's own parser, libxlutil,
 * and checked further where Xen's libraries offer a check (see
 * xlcheck-lib.c and cloudd-vmm-xl(7) for which checks are Xen's and which
 * are ours).  For the tests only: the unit test of vmm/xl links it, and
 * t/helpers/xlcheck runs it on files for the stub xl and xm.
 */
#ifndef CLD_XLCHECK_H
#define CLD_XLCHECK_H

#include <stddef.h>
#include <stdio.h>

/*
 * Check LEN bytes of TEXT, called SOURCE in messages, as a domain
 * configuration of xl (XM 0) or of xm (XM 1: the part of xm's Python that
 * libxlutil reads).  Every problem is written to REPORT the way xl writes
 * it (libxlutil's own messages carry SOURCE and the line).  When SUMMARY is
 * not NULL it gets the settings a stand-in toolstack needs, one
 * "key value" a line: name, type, memory, vcpus, kernel, ramdisk,
 * bootloader, and one "disk PATH" and one "vif SPEC" per device.  Returns
 * 0 if the configuration passes, -1 if not.
 */
int xlcheck(const char *source, const char *text, size_t len, int xm,
    FILE *report, FILE *summary);

#endif
