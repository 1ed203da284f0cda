/*
 * The store: cloudd's state in sqlite (see store.h).
 *
 * Opening is in two steps so that a file we should not touch is never
 * written: a read-only connection checks what the file is (an sqlite
 * database, ours, a schema we know, intact), and only then a read-write
 * connection migrates it and serves.  While the store is open, an flock()
 * on a descriptor of the database file keeps a second cloudd out: the
 * daemon is the only writer.
 *
 * Every statement is prepared once per store (SQLITE_PREPARE_PERSISTENT) on
 * first use and reset after each use; strings are bound SQLITE_STATIC since
 * the caller's strings outlive the step.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "util.h"

/* Grow the WAL freely during a transaction, but cut it back to this. */
#define STORE_WAL_LIMIT (64 * 1024 * 1024)
/* Page cache per store, in KiB (negative cache_size). */
#define STORE_CACHE_KIB 32768

/*
 * The schema, one entry per version: migrations[i] takes a database from
 * version i to i + 1.  Adding version 2 is appending one entry; never edit
 * an entry that has been released.  Each entry runs in one transaction that
 * also sets user_version.
 */
#define OBJ_TABLE(t, name_constraint)					\
	"CREATE TABLE " t " (\n"					\
	"  id INTEGER PRIMARY KEY,\n"					\
	"  name TEXT NOT NULL" name_constraint ",\n"			\
	"  uid INTEGER NOT NULL,\n"					\
	"  gid INTEGER NOT NULL,\n"					\
	"  state INTEGER NOT NULL,\n"					\
	"  ref INTEGER NOT NULL,\n"					\
	"  mtime INTEGER NOT NULL,\n"					\
	"  body TEXT NOT NULL\n"					\
	");\n"

static const char *const migrations[] = {
	/* 0 -> 1: the first schema */
	OBJ_TABLE("users", " UNIQUE")
	OBJ_TABLE("groups", " UNIQUE")
	OBJ_TABLE("clusters", " UNIQUE")
	OBJ_TABLE("hosts", " UNIQUE")
	OBJ_TABLE("vms", "")
	OBJ_TABLE("vnets", " UNIQUE")
	OBJ_TABLE("images", "")
	"CREATE TABLE vm_history (\n"
	"  vm_id INTEGER NOT NULL REFERENCES vms (id) ON DELETE CASCADE,\n"
	"  seq INTEGER NOT NULL,\n"
	"  host_id INTEGER NOT NULL,\n"
	"  host TEXT NOT NULL,\n"
	"  start_time INTEGER NOT NULL,\n"
	"  prolog_end INTEGER NOT NULL,\n"
	"  boot_end INTEGER NOT NULL,\n"
	"  running_end INTEGER NOT NULL,\n"
	"  epilog_end INTEGER NOT NULL,\n"
	"  end_time INTEGER NOT NULL,\n"
	"  reason INTEGER NOT NULL,\n"
	"  message TEXT NOT NULL,\n"
	"  PRIMARY KEY (vm_id, seq)\n"
	");\n"
	"CREATE TABLE leases (\n"
	"  vnet_id INTEGER NOT NULL REFERENCES vnets (id) ON DELETE CASCADE,\n"
	"  ip TEXT NOT NULL,\n"
	"  mac TEXT NOT NULL,\n"
	"  vm_id INTEGER NOT NULL,\n"
	"  released INTEGER NOT NULL,\n"
	"  PRIMARY KEY (vnet_id, ip),\n"
	"  UNIQUE (vnet_id, mac)\n"
	");\n",
};

#define STORE_VERSION ((int)CLD_ARRAY_SIZE(migrations))

static const char *const table_names[CLD_T_COUNT] = {
	[CLD_T_USERS] = "users",
	[CLD_T_GROUPS] = "groups",
	[CLD_T_CLUSTERS] = "clusters",
	[CLD_T_HOSTS] = "hosts",
	[CLD_T_VMS] = "vms",
	[CLD_T_VNETS] = "vnets",
	[CLD_T_IMAGES] = "images",
};

/* The cached statements: fixed ones, then four per object table. */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_HIST_PUT,
	ST_HIST_LOAD,
	ST_HIST_LOAD_VM,
	ST_LEASE_PUT,
	ST_LEASE_DEL,
	ST_LEASE_LOAD,
	ST_LEASE_LOAD_VNET,
	ST_FIXED
};
enum { OBJ_PUT, OBJ_DEL, OBJ_LOAD, OBJ_MAX, OBJ_NKINDS };
#define ST_OBJ(kind, t) (ST_FIXED + (kind) * CLD_T_COUNT + (int)(t))
#define ST_COUNT ST_OBJ(OBJ_NKINDS, 0)

static const char *const fixed_sql[ST_FIXED] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_HIST_PUT] =
	    "INSERT INTO vm_history (vm_id, seq, host_id, host, start_time, "
	    "prolog_end, boot_end, running_end, epilog_end, end_time, reason, "
	    "message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
	    "ON CONFLICT (vm_id, seq) DO UPDATE SET host_id = excluded.host_id, "
	    "host = excluded.host, start_time = excluded.start_time, "
	    "prolog_end = excluded.prolog_end, boot_end = excluded.boot_end, "
	    "running_end = excluded.running_end, "
	    "epilog_end = excluded.epilog_end, end_time = excluded.end_time, "
	    "reason = excluded.reason, message = excluded.message",
	[ST_HIST_LOAD] =
	    "SELECT vm_id, seq, host_id, host, start_time, prolog_end, "
	    "boot_end, running_end, epilog_end, end_time, reason, message "
	    "FROM vm_history ORDER BY vm_id, seq",
	[ST_HIST_LOAD_VM] =
	    "SELECT vm_id, seq, host_id, host, start_time, prolog_end, "
	    "boot_end, running_end, epilog_end, end_time, reason, message "
	    "FROM vm_history WHERE vm_id = ?1 ORDER BY seq",
	[ST_LEASE_PUT] =
	    "INSERT INTO leases (vnet_id, ip, mac, vm_id, released) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (vnet_id, ip) DO UPDATE SET mac = excluded.mac, "
	    "vm_id = excluded.vm_id, released = excluded.released",
	[ST_LEASE_DEL] = "DELETE FROM leases WHERE vnet_id = ?1 AND ip = ?2",
	[ST_LEASE_LOAD] =
	    "SELECT vnet_id, ip, mac, vm_id, released FROM leases "
	    "ORDER BY vnet_id, ip",
	[ST_LEASE_LOAD_VNET] =
	    "SELECT vnet_id, ip, mac, vm_id, released FROM leases "
	    "WHERE vnet_id = ?1 ORDER BY ip",
};

struct cld_store {
	char *path;
	sqlite3 *db;
	int fd;			/* holds the flock(); -1 if none */
	int created;		/* we created the file in this open */
	off_t size;		/* of the file when opened */
	int version;
	sqlite3_stmt *stmt[ST_COUNT];
};

static int
table_ok(enum cld_table t)
{
	return (int)t >= 0 && t < CLD_T_COUNT;
}

const char *
cld_store_table_name(enum cld_table t)
{
	return table_ok(t) ? table_names[t] : NULL;
}

int
cld_store_known_version(void)
{
	return STORE_VERSION;
}

const char *
cld_store_migration(int i)
{
	if (i < 0 || i >= STORE_VERSION)
		return NULL;
	return migrations[i];
}

/* The error code for the last failure on DB. */
static int
errcode_of(sqlite3 *db)
{
	switch (sqlite3_extended_errcode(db)) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return CLD_EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return CLD_ENOENT;
	case SQLITE_CONSTRAINT_NOTNULL:
		return CLD_EINVAL;
	default:
		return CLD_ESTORE;
	}
}

/* "cannot <what> in 'PATH': <sqlite's message>", from the last failure. */
static CLD_PRINTF(3, 4) void
store_fail(struct cld_store *st, struct cld_err *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cld_err_set(err, errcode_of(st->db), "cannot %s in '%s': %s", what,
	    st->path, sqlite3_errmsg(st->db));
}

/*
 * sqlite's message for the last failure on DB, with the system's reason
 * when there is one ("unable to open database file: Permission denied").
 */
static void
db_reason(sqlite3 *db, char *buf, size_t len)
{
	int sys = db != NULL ? sqlite3_system_errno(db) : 0;
	const char *msg = db != NULL ? sqlite3_errmsg(db) : "out of memory";

	if (sys != 0)
		snprintf(buf, len, "%s: %s", msg, strerror(sys));
	else
		snprintf(buf, len, "%s", msg);
}

static sqlite3_stmt *
stmt_get(struct cld_store *st, int which, struct cld_err *err)
{
	char sql[512];
	const char *text = sql;
	const char *tn;
	int kind, n = 0;

	if (st->stmt[which] != NULL)
		return st->stmt[which];
	if (which < ST_FIXED) {
		text = fixed_sql[which];
	} else {
		kind = (which - ST_FIXED) / CLD_T_COUNT;
		tn = table_names[(which - ST_FIXED) % CLD_T_COUNT];
		switch (kind) {
		case OBJ_PUT:
			n = snprintf(sql, sizeof(sql),
			    "INSERT INTO %s (id, name, uid, gid, state, ref, "
			    "mtime, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
			    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
			    "uid = excluded.uid, gid = excluded.gid, "
			    "state = excluded.state, ref = excluded.ref, "
			    "mtime = excluded.mtime, body = excluded.body", tn);
			break;
		case OBJ_DEL:
			n = snprintf(sql, sizeof(sql),
			    "DELETE FROM %s WHERE id = ?1", tn);
			break;
		case OBJ_LOAD:
			n = snprintf(sql, sizeof(sql),
			    "SELECT id, name, uid, gid, state, ref, mtime, body "
			    "FROM %s ORDER BY id", tn);
			break;
		default:
			n = snprintf(sql, sizeof(sql),
			    "SELECT max(id) FROM %s", tn);
			break;
		}
		if (n < 0 || (size_t)n >= sizeof(sql)) {
			cld_err_set(err, CLD_ESTORE, "statement too long");
			return NULL;
		}
	}
	if (sqlite3_prepare_v3(st->db, text, -1, SQLITE_PREPARE_PERSISTENT,
	    &st->stmt[which], NULL) != SQLITE_OK) {
		store_fail(st, err, "prepare \"%s\"", text);
		sqlite3_finalize(st->stmt[which]);
		st->stmt[which] = NULL;
		return NULL;
	}
	return st->stmt[which];
}

/* Run SQL (one or more statements, no rows wanted) on the store. */
static int
store_exec(struct cld_store *st, const char *sql)
{
	return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The first column of the first row of SQL as an integer; sqlite's code. */
static int
query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto cleanup;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*out = 0;
		rc = SQLITE_OK;
	}
cleanup:
	/* keeps the db's error message when step failed */
	sqlite3_finalize(s);
	return rc;
}

/*
 * Open (or create) the file ourselves: the system's reason on failure, a
 * regular file, and the lock that keeps a second writer out.
 */
static int
store_lock(struct cld_store *st, struct cld_err *err)
{
	struct stat sb;

	st->fd = open(st->path, O_RDONLY | O_CLOEXEC);
	if (st->fd == -1 && errno == ENOENT) {
		st->fd = open(st->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (st->fd == -1) {
			cld_err_sys(err, CLD_EIO, errno, "cannot create '%s': %s",
			    st->path, strerror(errno));
			return -1;
		}
		st->created = 1;
	} else if (st->fd == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot open '%s': %s",
		    st->path, strerror(errno));
		return -1;
	}
	if (fstat(st->fd, &sb) == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot stat '%s': %s",
		    st->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		cld_err_set(err, CLD_ESTORE,
		    "'%s' is not a cloudd database: not a regular file",
		    st->path);
		return -1;
	}
	if (flock(st->fd, LOCK_EX | LOCK_NB) == -1) {
		st->created = 0;	/* someone else's now: leave it */
		if (errno == EWOULDBLOCK)
			cld_err_sys(err, CLD_EBUSY, errno,
			    "'%s' is in use by another process", st->path);
		else
			cld_err_sys(err, CLD_EIO, errno, "cannot lock '%s': %s",
			    st->path, strerror(errno));
		return -1;
	}
	st->size = sb.st_size;
	return 0;
}

/* A failure of the read-only check, by what sqlite found. */
static void
check_fail(struct cld_store *st, sqlite3 *db, int rc, struct cld_err *err)
{
	char reason[512];

	db_reason(db, reason, sizeof(reason));
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		cld_err_set(err, CLD_ESTORE, "'%s' is not a cloudd database: %s",
		    st->path, reason);
		break;
	case SQLITE_CORRUPT:
		cld_err_set(err, CLD_ESTORE, "'%s' is corrupt: %s", st->path,
		    reason);
		break;
	default:
		cld_err_set(err, CLD_ESTORE, "cannot read '%s': %s", st->path,
		    reason);
		break;
	}
}

/*
 * PRAGMA quick_check: 0 if the database is intact, else -1 with its first
 * findings in err.
 */
static int
check_integrity(struct cld_store *st, sqlite3 *db, struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	char found[512] = "";
	const char *line;
	size_t len = 0, i;
	int rc, ret = -1;

	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		line = (const char *)sqlite3_column_text(s, 0);
		if (line == NULL)
			continue;
		if (strcmp(line, "ok") == 0 && len == 0)
			continue;
		/* one line per finding, "; " between them */
		for (i = 0; line[i] != '\0' && len + 3 < sizeof(found); i++)
			found[len++] = line[i] == '\n' ? ' ' : line[i];
		if (len + 3 < sizeof(found)) {
			found[len++] = ';';
			found[len++] = ' ';
		}
		found[len] = '\0';
	}
	if (rc != SQLITE_DONE)
		goto fail;
	if (len > 0) {
		if (len >= 2 && found[len - 2] == ';')
			found[len - 2] = '\0';
		cld_err_set(err, CLD_ESTORE, "'%s' is corrupt: %s", st->path,
		    found);
		goto cleanup;
	}
	ret = 0;
	goto cleanup;
fail:
	check_fail(st, db, rc, err);
cleanup:
	sqlite3_finalize(s);
	return ret;
}

/*
 * What is this file?  Through a read-only connection, so that nothing we
 * refuse is ever written (the -shm index beside a WAL database may be).  Sets *version (0: a new database).
 */
static int
store_check(struct cld_store *st, int known, int *version,
    struct cld_err *err)
{
	static const char magic[16] = "SQLite format 3";
	sqlite3 *db = NULL;
	char head[16];
	int64_t appid = 0, uver = 0, nobj = 0;
	ssize_t n;
	int rc, ret = -1;

	*version = 0;
	if (st->size == 0)
		return 0;	/* an empty file is a new database */
	n = pread(st->fd, head, sizeof(head), 0);
	if (n == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot read '%s': %s",
		    st->path, strerror(errno));
		return -1;
	}
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(head))) {
		cld_err_set(err, CLD_ESTORE,
		    "'%s' is not a cloudd database: file is not a database",
		    st->path);
		return -1;
	}

	rc = sqlite3_open_v2(st->path, &db,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, CLD_STORE_BUSY_TIMEOUT_MS);
	/* a read-only connection must not even try to checkpoint */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);

	if ((rc = query_int(db, "PRAGMA application_id", &appid)) != SQLITE_OK)
		goto fail;
	if (appid == 0) {
		rc = query_int(db, "SELECT count(*) FROM sqlite_master", &nobj);
		if (rc != SQLITE_OK)
			goto fail;
		if ((rc = query_int(db, "PRAGMA user_version", &uver)) !=
		    SQLITE_OK)
			goto fail;
		if (nobj > 0 || uver != 0) {
			cld_err_set(err, CLD_ESTORE, "'%s' is not a cloudd "
			    "database (no application id, and tables of "
			    "another program)", st->path);
			goto cleanup;
		}
		ret = 0;	/* an sqlite database with nothing in it */
		goto cleanup;
	}
	if (appid != CLD_STORE_APPLICATION_ID) {
		cld_err_set(err, CLD_ESTORE,
		    "'%s' is not a cloudd database (application id 0x%08" PRIx32
		    ")", st->path, (uint32_t)appid);
		goto cleanup;
	}
	if ((rc = query_int(db, "PRAGMA user_version", &uver)) != SQLITE_OK)
		goto fail;
	if (uver > known) {
		cld_err_set(err, CLD_ESTORE, "'%s' has schema version %" PRId64
		    ", newer than this cloudd (%d): upgrade cloudd", st->path,
		    uver, known);
		goto cleanup;
	}
	if (uver < 0) {
		cld_err_set(err, CLD_ESTORE, "'%s' is corrupt: schema version %"
		    PRId64, st->path, uver);
		goto cleanup;
	}
	if (check_integrity(st, db, err) == -1)
		goto cleanup;
	*version = (int)uver;
	ret = 0;
	goto cleanup;
fail:
	check_fail(st, db, rc, err);
cleanup:
	sqlite3_close(db);
	return ret;
}

/*
 * sqlite would open a write-protected file read-only without a word, and
 * WAL creates files beside the database: say so before trying.
 */
static int
store_writable(struct cld_store *st, struct cld_err *err)
{
	char *dir = NULL, *slash;
	int ret = -1;

	if (faccessat(AT_FDCWD, st->path, R_OK | W_OK, AT_EACCESS) == -1) {
		cld_err_sys(err, CLD_EIO, errno,
		    "cannot open '%s' for writing: %s", st->path,
		    strerror(errno));
		goto cleanup;
	}
	dir = cld_xstrdup(st->path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = cld_xstrdup(".");
	} else if (slash == dir) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == -1) {
		cld_err_sys(err, CLD_EIO, errno, "cannot write in '%s' (for "
		    "the journal of '%s'): %s", dir, st->path, strerror(errno));
		goto cleanup;
	}
	ret = 0;
cleanup:
	free(dir);
	return ret;
}

/* The read-write connection and its settings. */
static int
store_connect(struct cld_store *st, int sync, struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	char reason[512], sql[64];
	const char *mode;
	int rc, ret = -1;

	rc = sqlite3_open_v2(st->path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		db_reason(st->db, reason, sizeof(reason));
		cld_err_set(err, CLD_ESTORE, "cannot open '%s' for writing: %s",
		    st->path, reason);
		goto cleanup;
	}
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		cld_err_set(err, CLD_ESTORE, "cannot open '%s' for writing: "
		    "sqlite opened it read-only", st->path);
		goto cleanup;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, CLD_STORE_BUSY_TIMEOUT_MS);
	if (store_exec(st, "PRAGMA foreign_keys = ON") == -1) {
		store_fail(st, err, "enable foreign keys");
		goto cleanup;
	}

	/* the one step that writes to a database in rollback mode */
	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		mode = (const char *)sqlite3_column_text(s, 0);
		if (mode == NULL || strcmp(mode, "wal") != 0) {
			cld_err_set(err, CLD_ESTORE, "cannot set WAL mode in "
			    "'%s': journal mode stays '%s'", st->path,
			    mode != NULL ? mode : "?");
			goto cleanup;
		}
	} else {
		db_reason(st->db, reason, sizeof(reason));
		cld_err_set(err, CLD_ESTORE, "cannot set WAL mode in '%s': %s",
		    st->path, reason);
		goto cleanup;
	}

	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s",
	    sync == CLD_SYNC_FULL ? "FULL" : "NORMAL");
	if (store_exec(st, sql) == -1) {
		store_fail(st, err, "set synchronous mode");
		goto cleanup;
	}
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
	    STORE_WAL_LIMIT);
	if (store_exec(st, sql) == -1) {
		store_fail(st, err, "limit the journal size");
		goto cleanup;
	}
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", STORE_CACHE_KIB);
	if (store_exec(st, sql) == -1) {
		store_fail(st, err, "set the cache size");
		goto cleanup;
	}
	ret = 0;
cleanup:
	sqlite3_finalize(s);
	return ret;
}

/* Take the database from VERSION to NSTEPS, one transaction per step. */
static int
store_migrate(struct cld_store *st, const char *const *steps, int nsteps,
    int version, struct cld_err *err)
{
	char sql[64], reason[512];
	int v;

	for (v = version; v < nsteps; v++) {
		if (store_exec(st, "BEGIN IMMEDIATE") == -1)
			goto fail;
		if (v == 0) {
			snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
			    CLD_STORE_APPLICATION_ID);
			if (store_exec(st, sql) == -1)
				goto fail;
		}
		if (store_exec(st, steps[v]) == -1)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (store_exec(st, sql) == -1 || store_exec(st, "COMMIT") == -1)
			goto fail;
	}
	if (version > 0 && version < nsteps)
		log_info("store: '%s' migrated from schema version %d to %d",
		    st->path, version, nsteps);
	if (version == 0 && nsteps > 0 &&
	    sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL) != SQLITE_OK) {
		store_fail(st, err, "checkpoint the new schema");
		return -1;
	}
	st->version = nsteps;
	return 0;
fail:
	db_reason(st->db, reason, sizeof(reason));
	if (!sqlite3_get_autocommit(st->db))
		store_exec(st, "ROLLBACK");
	cld_err_set(err, CLD_ESTORE,
	    "cannot migrate '%s' from schema version %d to %d: %s", st->path,
	    v, v + 1, reason);
	return -1;
}

/* Remove PATH with SUFFIX, if it is there. */
static void
store_unlink_aside(const char *path, const char *suffix)
{
	char *p = cld_xasprintf("%s%s", path, suffix);

	unlink(p);
	free(p);
}

struct cld_store *
cld_store_open_migrations(const char *path, int sync,
    const char *const *steps, int nsteps, struct cld_err *err)
{
	struct cld_store *st = NULL, *ret = NULL;
	int version = 0;

	if (sync != CLD_SYNC_NORMAL && sync != CLD_SYNC_FULL) {
		cld_err_set(err, CLD_EINVAL, "invalid store sync mode %d", sync);
		return NULL;
	}
	st = cld_xcalloc(1, sizeof(*st));
	st->fd = -1;
	st->path = cld_xstrdup(path);
	if (store_lock(st, err) == -1)
		goto cleanup;
	/* first: a read-only connection to a WAL database may need to write */
	if (store_writable(st, err) == -1)
		goto cleanup;
	if (store_check(st, nsteps, &version, err) == -1)
		goto cleanup;
	if (store_connect(st, sync, err) == -1)
		goto cleanup;
	if (store_migrate(st, steps, nsteps, version, err) == -1)
		goto cleanup;
	ret = st;
	st = NULL;
cleanup:
	/* a file we created for a store that did not open goes again */
	if (st != NULL && st->created) {
		sqlite3_close(st->db);
		st->db = NULL;
		unlink(st->path);
		store_unlink_aside(st->path, "-wal");
		store_unlink_aside(st->path, "-shm");
	}
	cld_store_close(st);
	return ret;
}

struct cld_store *
cld_store_open(const char *path, int sync, struct cld_err *err)
{
	return cld_store_open_migrations(path, sync, migrations, STORE_VERSION,
	    err);
}

void
cld_store_close(struct cld_store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("store: cannot close '%s': %s", st->path,
		    sqlite3_errmsg(st->db));
	/* after sqlite's close: closing a descriptor drops the process's locks */
	if (st->fd != -1)
		close(st->fd);
	free(st->path);
	free(st);
}

int
cld_store_schema_version(struct cld_store *st)
{
	return st->version;
}

int
cld_store_synchronous(struct cld_store *st)
{
	int64_t v = -1;

	if (query_int(st->db, "PRAGMA synchronous", &v) != SQLITE_OK)
		return -1;
	return (int)v;
}

/* Step a statement that returns no rows, then reset it. */
static int
step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	/* the message stays in the db until the next call; reset keeps it */
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
cld_store_begin(struct cld_store *st, struct cld_err *err)
{
	sqlite3_stmt *s = stmt_get(st, ST_BEGIN, err);

	if (s == NULL)
		return -1;
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, err, "begin a transaction");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

int
cld_store_commit(struct cld_store *st, struct cld_err *err)
{
	sqlite3_stmt *s = stmt_get(st, ST_COMMIT, err);

	if (s == NULL) {
		cld_store_rollback(st);
		return -1;
	}
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, err, "commit");
		sqlite3_reset(s);
		/* a commit that failed must not stay pending (SQLITE_BUSY) */
		cld_store_rollback(st);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

void
cld_store_rollback(struct cld_store *st)
{
	sqlite3_stmt *s = NULL;

	if (st == NULL || sqlite3_get_autocommit(st->db))
		return;
	if ((s = stmt_get(st, ST_ROLLBACK, NULL)) == NULL ||
	    step_done(s) == -1)
		log_warnx("store: cannot roll back in '%s': %s", st->path,
		    sqlite3_errmsg(st->db));
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return or_empty((const char *)sqlite3_column_text(s, i));
}

int
cld_store_put(struct cld_store *st, enum cld_table t,
    const struct cld_row *row, struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if (!table_ok(t)) {
		cld_err_set(err, CLD_EINVAL, "no such table %d", (int)t);
		goto cleanup;
	}
	if (row->name == NULL) {
		cld_err_set(err, CLD_EINVAL, "%s row %" PRId64 " has no name",
		    table_names[t], row->id);
		goto cleanup;
	}
	if ((s = stmt_get(st, ST_OBJ(OBJ_PUT, t), err)) == NULL)
		goto cleanup;
	sqlite3_bind_int64(s, 1, row->id);
	sqlite3_bind_text(s, 2, row->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, row->uid);
	sqlite3_bind_int64(s, 4, row->gid);
	sqlite3_bind_int(s, 5, row->state);
	sqlite3_bind_int64(s, 6, row->ref);
	sqlite3_bind_int64(s, 7, row->mtime);
	sqlite3_bind_text(s, 8, or_empty(row->body), -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, err, "write %s row %" PRId64 " ('%s')",
		    table_names[t], row->id, row->name);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_del(struct cld_store *st, enum cld_table t, int64_t id,
    struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if (!table_ok(t)) {
		cld_err_set(err, CLD_EINVAL, "no such table %d", (int)t);
		goto cleanup;
	}
	if ((s = stmt_get(st, ST_OBJ(OBJ_DEL, t), err)) == NULL)
		goto cleanup;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, err, "delete %s row %" PRId64, table_names[t],
		    id);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_load(struct cld_store *st, enum cld_table t, cld_row_fn fn,
    void *ctx, struct cld_err *err)
{
	struct cld_row row;
	sqlite3_stmt *s = NULL;
	int rc = SQLITE_DONE, ret = -1;

	if (!table_ok(t)) {
		cld_err_set(err, CLD_EINVAL, "no such table %d", (int)t);
		goto cleanup;
	}
	if ((s = stmt_get(st, ST_OBJ(OBJ_LOAD, t), err)) == NULL)
		goto cleanup;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row.id = sqlite3_column_int64(s, 0);
		row.name = col_text(s, 1);
		row.uid = sqlite3_column_int64(s, 2);
		row.gid = sqlite3_column_int64(s, 3);
		row.state = sqlite3_column_int(s, 4);
		row.ref = sqlite3_column_int64(s, 5);
		row.mtime = sqlite3_column_int64(s, 6);
		row.body = col_text(s, 7);
		if (fn(ctx, &row) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, err, "read %s", table_names[t]);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_get(struct cld_store *st, enum cld_table t, int64_t id,
    cld_row_fn fn, void *ctx, struct cld_err *err)
{
	struct cld_row row;
	sqlite3_stmt *s = NULL;
	char sql[160];
	int rc, ret = -1;

	if (!table_ok(t)) {
		cld_err_set(err, CLD_EINVAL, "no such table %d", (int)t);
		return -1;
	}
	/* Rare (objects that left memory): not worth a cached statement. */
	snprintf(sql, sizeof(sql), "SELECT id, name, uid, gid, state, ref, "
	    "mtime, body FROM %s WHERE id = ?1", table_names[t]);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		store_fail(st, err, "prepare \"%s\"", sql);
		goto cleanup;
	}
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		row.id = sqlite3_column_int64(s, 0);
		row.name = col_text(s, 1);
		row.uid = sqlite3_column_int64(s, 2);
		row.gid = sqlite3_column_int64(s, 3);
		row.state = sqlite3_column_int(s, 4);
		row.ref = sqlite3_column_int64(s, 5);
		row.mtime = sqlite3_column_int64(s, 6);
		row.body = col_text(s, 7);
		fn(ctx, &row);
		ret = 1;
	} else if (rc == SQLITE_DONE)
		ret = 0;
	else
		store_fail(st, err, "read %s", table_names[t]);
cleanup:
	sqlite3_finalize(s);
	return ret;
}

int64_t
cld_store_max_id(struct cld_store *st, enum cld_table t)
{
	struct cld_err err;
	sqlite3_stmt *s = NULL;
	int64_t ret = -2;
	int rc;

	cld_err_clear(&err);
	if (!table_ok(t)) {
		log_warnx("store: no such table %d", (int)t);
		goto cleanup;
	}
	if ((s = stmt_get(st, ST_OBJ(OBJ_MAX, t), &err)) == NULL) {
		log_warnx("store: %s", err.msg);
		goto cleanup;
	}
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		store_fail(st, &err, "read the largest id of %s",
		    table_names[t]);
		log_warnx("store: %s", err.msg);
		goto cleanup;
	}
	if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		ret = -1;
	else
		ret = sqlite3_column_int64(s, 0);
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_hist_put(struct cld_store *st, const struct cld_hist *h,
    struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if ((s = stmt_get(st, ST_HIST_PUT, err)) == NULL)
		goto cleanup;
	sqlite3_bind_int64(s, 1, h->vm_id);
	sqlite3_bind_int(s, 2, h->seq);
	sqlite3_bind_int64(s, 3, h->host_id);
	sqlite3_bind_text(s, 4, or_empty(h->host), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, h->start);
	sqlite3_bind_int64(s, 6, h->prolog_end);
	sqlite3_bind_int64(s, 7, h->boot_end);
	sqlite3_bind_int64(s, 8, h->running_end);
	sqlite3_bind_int64(s, 9, h->epilog_end);
	sqlite3_bind_int64(s, 10, h->end);
	sqlite3_bind_int(s, 11, h->reason);
	sqlite3_bind_text(s, 12, or_empty(h->message), -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(st->db) ==
		    SQLITE_CONSTRAINT_FOREIGNKEY)
			cld_err_set(err, CLD_ENOENT, "cannot write history "
			    "record %d of vm %" PRId64 " in '%s': no such vm",
			    h->seq, h->vm_id, st->path);
		else
			store_fail(st, err, "write history record %d of vm %"
			    PRId64, h->seq, h->vm_id);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_hist_load(struct cld_store *st, int64_t vm_id, cld_hist_fn fn,
    void *ctx, struct cld_err *err)
{
	struct cld_hist h;
	sqlite3_stmt *s = NULL;
	int rc = SQLITE_DONE, ret = -1;

	s = stmt_get(st, vm_id == -1 ? ST_HIST_LOAD : ST_HIST_LOAD_VM, err);
	if (s == NULL)
		goto cleanup;
	if (vm_id != -1)
		sqlite3_bind_int64(s, 1, vm_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		h.vm_id = sqlite3_column_int64(s, 0);
		h.seq = sqlite3_column_int(s, 1);
		h.host_id = sqlite3_column_int64(s, 2);
		h.host = col_text(s, 3);
		h.start = sqlite3_column_int64(s, 4);
		h.prolog_end = sqlite3_column_int64(s, 5);
		h.boot_end = sqlite3_column_int64(s, 6);
		h.running_end = sqlite3_column_int64(s, 7);
		h.epilog_end = sqlite3_column_int64(s, 8);
		h.end = sqlite3_column_int64(s, 9);
		h.reason = sqlite3_column_int(s, 10);
		h.message = col_text(s, 11);
		if (fn(ctx, &h) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, err, "read vm history");
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_lease_put(struct cld_store *st, const struct cld_lease *l,
    struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if (l->ip == NULL || l->mac == NULL) {
		cld_err_set(err, CLD_EINVAL, "a lease on network %" PRId64
		    " needs an ip and a mac", l->vnet_id);
		goto cleanup;
	}
	if ((s = stmt_get(st, ST_LEASE_PUT, err)) == NULL)
		goto cleanup;
	sqlite3_bind_int64(s, 1, l->vnet_id);
	sqlite3_bind_text(s, 2, l->ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, l->mac, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, l->vm_id);
	sqlite3_bind_int64(s, 5, l->released);
	if (sqlite3_step(s) != SQLITE_DONE) {
		/* (vnet_id, ip) is the upsert's key: a conflict is the mac */
		switch (sqlite3_extended_errcode(st->db)) {
		case SQLITE_CONSTRAINT_UNIQUE:
			cld_err_set(err, CLD_EEXIST, "cannot lease '%s' on "
			    "network %" PRId64 " in '%s': mac '%s' is already "
			    "leased with another ip on that network", l->ip,
			    l->vnet_id, st->path, l->mac);
			break;
		case SQLITE_CONSTRAINT_FOREIGNKEY:
			cld_err_set(err, CLD_ENOENT, "cannot lease '%s' on "
			    "network %" PRId64 " in '%s': no such network",
			    l->ip, l->vnet_id, st->path);
			break;
		default:
			store_fail(st, err, "lease '%s' on network %" PRId64,
			    l->ip, l->vnet_id);
			break;
		}
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_lease_del(struct cld_store *st, int64_t vnet_id, const char *ip,
    struct cld_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if (ip == NULL) {
		cld_err_set(err, CLD_EINVAL, "no ip to release on network %"
		    PRId64, vnet_id);
		goto cleanup;
	}
	if ((s = stmt_get(st, ST_LEASE_DEL, err)) == NULL)
		goto cleanup;
	sqlite3_bind_int64(s, 1, vnet_id);
	sqlite3_bind_text(s, 2, ip, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, err, "delete lease '%s' of network %" PRId64,
		    ip, vnet_id);
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}

int
cld_store_lease_load(struct cld_store *st, int64_t vnet_id, cld_lease_fn fn,
    void *ctx, struct cld_err *err)
{
	struct cld_lease l;
	sqlite3_stmt *s = NULL;
	int rc = SQLITE_DONE, ret = -1;

	s = stmt_get(st, vnet_id == -1 ? ST_LEASE_LOAD : ST_LEASE_LOAD_VNET,
	    err);
	if (s == NULL)
		goto cleanup;
	if (vnet_id != -1)
		sqlite3_bind_int64(s, 1, vnet_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		l.vnet_id = sqlite3_column_int64(s, 0);
		l.ip = col_text(s, 1);
		l.mac = col_text(s, 2);
		l.vm_id = sqlite3_column_int64(s, 3);
		l.released = sqlite3_column_int64(s, 4);
		if (fn(ctx, &l) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, err, "read leases");
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (s != NULL)
		sqlite3_reset(s);
	return ret;
}
