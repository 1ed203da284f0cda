/*
 * The VMs' own log files (LOG_DIR/<id>.log), written by a thread of their
 * own so that the loop never waits for the file system.
 */
#ifndef CLD_VMLOG_H
#define CLD_VMLOG_H

#include <stddef.h>
#include <stdint.h>

/* Start the writer for files in DIR.  Main thread, once. */
void cld_vmlog_start(const char *dir);

/*
 * Append LEN bytes of TEXT (whole lines) to VM ID's log.  Copies TEXT;
 * returns at once.  Before cld_vmlog_start (or after stop) it writes
 * directly into DIR.  Any thread.
 */
void cld_vmlog_write(const char *dir, int64_t id, const char *text,
    size_t len);

/* Wait until every queued line is written (before reading a log). */
void cld_vmlog_flush(void);

/* Write what is queued and stop the writer. */
void cld_vmlog_stop(void);

#endif /* CLD_VMLOG_H */
