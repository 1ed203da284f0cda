/*
 * The sqlite store: every table, transactions, and every file it must
 * refuse without touching it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tap.h"
#include "store.h"
#include "util.h"

static char *tmpdir;

static char *
tpath(const char *name)
{
	return cld_xasprintf("%s/%s", tmpdir, name);
}

/* A growing string. */
struct buf {
	char *p;
	size_t len, cap;
};

static CLD_PRINTF(2, 3) void
buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->p = cld_xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void
buf_clear(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static const char *
buf_str(struct buf *b)
{
	return b->p != NULL ? b->p : "";
}

static int
row_dump(void *ctx, const struct cld_row *r)
{
	buf_add(ctx, "%" PRId64 "|%s|%" PRId64 "|%" PRId64 "|%d|%" PRId64 "|%"
	    PRId64 "|%s\n", r->id, r->name, r->uid, r->gid, r->state, r->ref,
	    r->mtime, r->body);
	return 0;
}

static int
hist_dump(void *ctx, const struct cld_hist *h)
{
	buf_add(ctx, "%" PRId64 "/%d|%" PRId64 "|%s|%" PRId64 ",%" PRId64 ",%"
	    PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "|%d|%s\n", h->vm_id,
	    h->seq, h->host_id, h->host, h->start, h->prolog_end, h->boot_end,
	    h->running_end, h->epilog_end, h->end, h->reason, h->message);
	return 0;
}

static int
lease_dump(void *ctx, const struct cld_lease *l)
{
	buf_add(ctx, "%" PRId64 "|%s|%s|%" PRId64 "|%" PRId64 "\n", l->vnet_id,
	    l->ip, l->mac, l->vm_id, l->released);
	return 0;
}

/* Everything in the store as text. */
static char *
dump_all(struct cld_store *st)
{
	struct buf b = { NULL, 0, 0 };
	struct cld_err err;
	int t;

	for (t = 0; t < CLD_T_COUNT; t++) {
		buf_add(&b, "[%s]\n", cld_store_table_name(t));
		if (cld_store_load(st, t, row_dump, &b, &err) == -1)
			buf_add(&b, "error: %s\n", err.msg);
	}
	buf_add(&b, "[history]\n");
	if (cld_store_hist_load(st, -1, hist_dump, &b, &err) == -1)
		buf_add(&b, "error: %s\n", err.msg);
	buf_add(&b, "[leases]\n");
	if (cld_store_lease_load(st, -1, lease_dump, &b, &err) == -1)
		buf_add(&b, "error: %s\n", err.msg);
	return b.p;
}

static int
count_row(void *ctx, const struct cld_row *r)
{
	(void)r;
	++*(int *)ctx;
	return 0;
}

static int
count_hist(void *ctx, const struct cld_hist *h)
{
	(void)h;
	++*(int *)ctx;
	return 0;
}

static int
count_lease(void *ctx, const struct cld_lease *l)
{
	(void)l;
	++*(int *)ctx;
	return 0;
}

static int
nrows(struct cld_store *st, enum cld_table t)
{
	struct cld_err err;
	int n = 0;

	if (cld_store_load(st, t, count_row, &n, &err) == -1)
		return -1;
	return n;
}

static int
nhist(struct cld_store *st, int64_t vm)
{
	struct cld_err err;
	int n = 0;

	if (cld_store_hist_load(st, vm, count_hist, &n, &err) == -1)
		return -1;
	return n;
}

static int
nleases(struct cld_store *st, int64_t vnet)
{
	struct cld_err err;
	int n = 0;

	if (cld_store_lease_load(st, vnet, count_lease, &n, &err) == -1)
		return -1;
	return n;
}

static int
stop_first(void *ctx, const struct cld_row *r)
{
	++*(int *)ctx;
	(void)r;
	return 1;
}

static int
put(struct cld_store *st, enum cld_table t, int64_t id, const char *name,
    const char *body, struct cld_err *err)
{
	struct cld_row r = {
		.id = id, .name = name, .uid = 100 + id, .gid = 200 + id,
		.state = (int)(id % 7), .ref = id == 0 ? -1 : id - 1,
		.mtime = 1700000000 + id, .body = body,
	};

	return cld_store_put(st, t, &r, err);
}

static int
hist(struct cld_store *st, int64_t vm, int seq, const char *msg,
    struct cld_err *err)
{
	struct cld_hist h = {
		.vm_id = vm, .seq = seq, .host_id = 7, .host = "node07",
		.start = 1000 + seq, .prolog_end = 1001 + seq,
		.boot_end = 1002 + seq, .running_end = 1003 + seq,
		.epilog_end = 1004 + seq, .end = 1005 + seq, .reason = seq,
		.message = msg,
	};

	return cld_store_hist_put(st, &h, err);
}

static int
lease(struct cld_store *st, int64_t vnet, const char *ip, const char *mac,
    int64_t vm, struct cld_err *err)
{
	struct cld_lease l = {
		.vnet_id = vnet, .ip = ip, .mac = mac, .vm_id = vm,
		.released = 0,
	};

	return cld_store_lease_put(st, &l, err);
}

/* The whole content of a file, or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	struct cld_err err;

	return cld_read_file(path, len, &err);
}

static int
file_is(const char *path, const char *want, size_t wlen)
{
	size_t len = 0;
	char *got = slurp(path, &len);
	int same = got != NULL && len == wlen && memcmp(got, want, len) == 0;

	free(got);
	return same;
}

static int
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		diag("cannot write '%s': %s", path, strerror(errno));
		exit(1);
	}
}

/* Run SQL on PATH through a plain sqlite connection. */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		diag("sqlite on '%s': %s", path, msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The first column of SQL's first row, as text, in BUF. */
static const char *
raw_text(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(buf, len, "(error)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return buf;
}

static int
has(const char *msg, const char *part)
{
	return strstr(msg, part) != NULL;
}

/*
 * Open PATH and expect a refusal that leaves the file as it was.  Returns
 * the error message in ERR.
 */
static void
refused(const char *path, const char *what, const char *want_msg,
    struct cld_err *err)
{
	struct cld_store *st;
	size_t len = 0;
	char *before = slurp(path, &len);

	cld_err_clear(err);
	st = cld_store_open(path, CLD_SYNC_NORMAL, err);
	ok(st == NULL && err->code != CLD_EOK, "%s: refused", what);
	if (st == NULL)
		diag("  %s", err->msg);
	ok(has(err->msg, want_msg) && has(err->msg, path),
	    "%s: the message names the file and says '%s'", what, want_msg);
	ok(before != NULL && file_is(path, before, len),
	    "%s: the file is unchanged", what);
	cld_store_close(st);
	free(before);
}

static void
test_tables(void)
{
	static const char *const bodies[] = { "CPU = 1\nMEMORY = 512\n", "",
	    "DISK = [ IMAGE = \"x\" ]" };
	struct cld_store *st;
	struct cld_err err;
	struct buf b = { NULL, 0, 0 };
	char name[32], *path = tpath("tables.db"), *before, *after;
	int t, i, n, uniq, ret;

	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL, "a new store is created");
	if (st == NULL) {
		diag("%s", err.msg);
		free(path);
		return;
	}
	is_int(cld_store_schema_version(st), cld_store_known_version(),
	    "a new store has this build's schema version");
	is_int(cld_store_synchronous(st), 1, "synchronous is NORMAL by default");

	for (t = 0; t < CLD_T_COUNT; t++) {
		const char *tn = cld_store_table_name(t);

		uniq = t != CLD_T_VMS && t != CLD_T_IMAGES;
		is_int(cld_store_max_id(st, t), -1, "%s: max id of none is -1",
		    tn);
		is_int(nrows(st, t), 0, "%s: empty at first", tn);
		ret = 0;
		for (i = 1; i <= 3; i++) {
			snprintf(name, sizeof(name), "%s-%d", tn, i);
			ret |= put(st, t, i, name, bodies[i - 1], &err);
		}
		ok(ret == 0, "%s: three rows put", tn);
		is_int(nrows(st, t), 3, "%s: three rows loaded", tn);
		is_int(cld_store_max_id(st, t), 3, "%s: max id 3", tn);
		ok(put(st, t, 2, "renamed", "NEW = yes", &err) == 0,
		    "%s: put on an existing id", tn);
		b.len = 0;
		cld_store_load(st, t, row_dump, &b, &err);
		snprintf(name, sizeof(name), "%s-1", tn);
		ok(has(buf_str(&b), "2|renamed|102|202|2|1|1700000002|NEW = yes\n")
		    && nrows(st, t) == 3, "%s: it replaced the row", tn);
		ok(strncmp(buf_str(&b), "1|", 2) == 0 &&
		    has(buf_str(&b), "\n3|") &&
		    strstr(buf_str(&b), "\n2|") < strstr(buf_str(&b), "\n3|"),
		    "%s: rows come in id order", tn);
		cld_err_clear(&err);
		ret = put(st, t, 4, name, "", &err);
		if (uniq)
			ok(ret == -1 && err.code == CLD_EEXIST &&
			    has(err.msg, path), "%s: a name taken is refused "
			    "(%s)", tn, err.msg);
		else
			ok(ret == 0, "%s: names need not be unique", tn);
		ok(cld_store_del(st, t, 2, &err) == 0, "%s: delete", tn);
		ok(cld_store_del(st, t, 99, &err) == 0,
		    "%s: deleting a missing id is fine", tn);
		is_int(nrows(st, t), uniq ? 2 : 3, "%s: the row is gone", tn);
		n = 0;
		cld_store_load(st, t, stop_first, &n, &err);
		is_int(n, 1, "%s: a walker returning non-zero stops the walk",
		    tn);
	}
	is_int(cld_store_max_id(st, CLD_T_VMS), 4, "max id follows the rows");
	ok(cld_store_max_id(st, (enum cld_table)99) == -2 &&
	    nrows(st, (enum cld_table)99) == -1, "an invalid table is an error");
	{
		struct cld_row r = { .id = 9, .name = NULL };

		ok(cld_store_put(st, CLD_T_HOSTS, &r, &err) == -1 &&
		    err.code == CLD_EINVAL, "a row without a name is refused");
	}

	/* history and leases, for the reopen below */
	ok(put(st, CLD_T_VNETS, 10, "net10", "BRIDGE = br0", &err) == 0 &&
	    lease(st, 10, "10.0.0.5", "02:00:0a:00:00:05", 3, &err) == 0 &&
	    hist(st, 3, 0, "deployed", &err) == 0 &&
	    hist(st, 3, 1, "migrated", &err) == 0,
	    "history and leases put");

	before = dump_all(st);
	cld_store_close(st);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL, "the store reopens");
	after = st != NULL ? dump_all(st) : NULL;
	is_str(after, before, "every table's rows are there after reopening");
	{
		char want[64];

		snprintf(want, sizeof(want), "%d", cld_store_known_version());
		cld_store_close(st);
		st = NULL;
		raw_text(path, "PRAGMA user_version", name, sizeof(name));
		is_str(name, want, "reopening leaves the schema version");
		raw_text(path, "PRAGMA journal_mode", name, sizeof(name));
		is_str(name, "wal", "the database is in WAL mode");
		raw_text(path, "PRAGMA application_id", name, sizeof(name));
		snprintf(want, sizeof(want), "%d", CLD_STORE_APPLICATION_ID);
		is_str(name, want, "the database carries cloudd's application id");
	}
	free(before);
	free(after);
	buf_clear(&b);
	free(path);
}

static void
test_history(void)
{
	struct cld_store *st;
	struct cld_err err;
	struct buf b = { NULL, 0, 0 };
	char *path = tpath("hist.db");

	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st == NULL) {
		ok(0, "open: %s", err.msg);
		free(path);
		return;
	}
	ok(put(st, CLD_T_VMS, 10, "a", "", &err) == 0 &&
	    put(st, CLD_T_VMS, 11, "b", "", &err) == 0 &&
	    hist(st, 10, 0, "first", &err) == 0 &&
	    hist(st, 10, 1, "second", &err) == 0 &&
	    hist(st, 11, 0, "other", &err) == 0, "history records put");
	is_int(nhist(st, 10), 2, "a vm's records");
	is_int(nhist(st, -1), 3, "every vm's records");
	ok(hist(st, 10, 1, "moved", &err) == 0, "a record replaced");
	cld_store_hist_load(st, 10, hist_dump, &b, &err);
	is_str(buf_str(&b), "10/0|7|node07|1000,1001,1002,1003,1004,1005|0|first\n"
	    "10/1|7|node07|1001,1002,1003,1004,1005,1006|1|moved\n",
	    "records load in order with every field");
	cld_err_clear(&err);
	ok(hist(st, 999, 0, "x", &err) == -1 && err.code == CLD_ENOENT,
	    "a record for a missing vm is refused (%s)", err.msg);
	ok(cld_store_del(st, CLD_T_VMS, 10, &err) == 0, "vm deleted");
	is_int(nhist(st, 10), 0, "its history went with it");
	is_int(nhist(st, -1), 1, "the other vm's history stays");
	buf_clear(&b);
	cld_store_close(st);
	free(path);
}

static void
test_leases(void)
{
	struct cld_store *st;
	struct cld_err err;
	struct buf b = { NULL, 0, 0 };
	struct cld_lease rel = { 1, "10.0.0.3", "02:00:0a:00:00:03", 9, 1234 };
	char *path = tpath("leases.db");

	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st == NULL) {
		ok(0, "open: %s", err.msg);
		free(path);
		return;
	}
	put(st, CLD_T_VNETS, 1, "one", "", &err);
	put(st, CLD_T_VNETS, 2, "two", "", &err);
	ok(lease(st, 1, "10.0.0.1", "02:00:0a:00:00:01", 5, &err) == 0,
	    "a lease put");
	ok(lease(st, 1, "10.0.0.1", "02:00:0a:00:00:01", 6, &err) == 0,
	    "the same ip again on the same network");
	cld_store_lease_load(st, 1, lease_dump, &b, &err);
	is_str(buf_str(&b), "1|10.0.0.1|02:00:0a:00:00:01|6|0\n",
	    "it replaced the lease");
	cld_err_clear(&err);
	ok(lease(st, 1, "10.0.0.2", "02:00:0a:00:00:01", 7, &err) == -1 &&
	    err.code == CLD_EEXIST, "the same mac for another ip is refused");
	ok(has(err.msg, "mac '02:00:0a:00:00:01' is already leased") &&
	    has(err.msg, "'10.0.0.2'") && has(err.msg, path),
	    "with a clear message (%s)", err.msg);
	ok(lease(st, 2, "10.0.0.1", "02:00:0a:00:00:01", 8, &err) == 0,
	    "the same ip and mac on another network");
	ok(cld_store_lease_put(st, &rel, &err) == 0, "a released lease put");
	is_int(nleases(st, 1), 2, "network 1 has two leases");
	is_int(nleases(st, -1), 3, "three leases in all");
	b.len = 0;
	cld_store_lease_load(st, -1, lease_dump, &b, &err);
	is_str(buf_str(&b), "1|10.0.0.1|02:00:0a:00:00:01|6|0\n"
	    "1|10.0.0.3|02:00:0a:00:00:03|9|1234\n"
	    "2|10.0.0.1|02:00:0a:00:00:01|8|0\n",
	    "leases load in (network, ip) order with every field");
	ok(cld_store_lease_del(st, 1, "10.0.0.1", &err) == 0 &&
	    cld_store_lease_del(st, 1, "10.9.9.9", &err) == 0,
	    "leases deleted, a missing one too");
	is_int(nleases(st, 1), 1, "the lease is gone");
	cld_err_clear(&err);
	ok(lease(st, 77, "10.0.0.1", "02:00:0a:00:00:01", 8, &err) == -1 &&
	    err.code == CLD_ENOENT, "a lease on a missing network is refused");
	ok(cld_store_del(st, CLD_T_VNETS, 2, &err) == 0 &&
	    nleases(st, 2) == 0 && nleases(st, -1) == 1,
	    "deleting a network deletes its leases");
	buf_clear(&b);
	cld_store_close(st);
	free(path);
}

static void
test_transactions(void)
{
	struct cld_store *st;
	struct cld_err err;
	char *path = tpath("txn.db"), *before = NULL, *after = NULL;

	st = cld_store_open(path, CLD_SYNC_FULL, &err);
	if (st == NULL) {
		ok(0, "open: %s", err.msg);
		free(path);
		return;
	}
	is_int(cld_store_synchronous(st), 2, "sync FULL sets synchronous=2");
	put(st, CLD_T_VMS, 1, "kept", "", &err);
	put(st, CLD_T_VNETS, 1, "net", "", &err);
	before = dump_all(st);
	ok(cld_store_begin(st, &err) == 0, "begin");
	cld_err_clear(&err);
	ok(cld_store_begin(st, &err) == -1 && err.code == CLD_ESTORE &&
	    has(err.msg, "cannot begin a transaction in '") &&
	    has(err.msg, path), "a second begin fails (%s)", err.msg);
	ok(put(st, CLD_T_VMS, 2, "gone", "", &err) == 0 &&
	    put(st, CLD_T_USERS, 1, "gone", "", &err) == 0 &&
	    hist(st, 1, 0, "gone", &err) == 0 &&
	    lease(st, 1, "10.0.0.1", "02:00:0a:00:00:01", 1, &err) == 0 &&
	    cld_store_del(st, CLD_T_VMS, 1, &err) == 0,
	    "changes inside the transaction");
	is_int(nrows(st, CLD_T_VMS), 1, "they are visible inside it");
	cld_store_rollback(st);
	after = dump_all(st);
	is_str(after, before, "a transaction rolled back leaves nothing");
	cld_store_rollback(st);
	ok(1, "rollback outside a transaction is harmless");
	ok(cld_store_begin(st, &err) == 0 &&
	    put(st, CLD_T_VMS, 3, "new", "", &err) == 0 &&
	    cld_store_commit(st, &err) == 0, "begin, put, commit");
	cld_err_clear(&err);
	ok(cld_store_commit(st, &err) == -1 && err.code == CLD_ESTORE,
	    "commit without a transaction fails (%s)", err.msg);
	cld_store_close(st);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	is_int(st != NULL ? nrows(st, CLD_T_VMS) : -1, 2,
	    "the committed row is there after reopening");
	{
		/* a transaction left open at close is rolled back */
		if (st != NULL) {
			cld_store_begin(st, &err);
			put(st, CLD_T_VMS, 50, "pending", "", &err);
		}
		cld_store_close(st);
		st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
		is_int(st != NULL ? cld_store_max_id(st, CLD_T_VMS) : -2, 3,
		    "a transaction open at close is not committed");
	}
	cld_store_close(st);
	free(before);
	free(after);
	free(path);
}

static void
test_refusals(void)
{
	struct cld_store *st, *st2;
	struct cld_err err;
	struct buf b = { NULL, 0, 0 };
	char *path, text[128];
	size_t len = 0;
	int i;

	/* another program's sqlite database */
	path = tpath("foreign.db");
	raw_exec(path, "CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 2);");
	refused(path, "a foreign sqlite database", "is not a cloudd database "
	    "(no application id, and tables of another program)", &err);
	free(path);

	path = tpath("foreign-appid.db");
	raw_exec(path, "PRAGMA application_id = 305419896; "
	    "CREATE TABLE users (id INTEGER PRIMARY KEY);");
	refused(path, "an sqlite database of another application",
	    "(application id 0x12345678)", &err);
	free(path);

	/* another program's WAL database, its WAL still there */
	path = tpath("foreign-wal.db");
	raw_exec(path, "PRAGMA journal_mode = WAL; CREATE TABLE x (a);");
	refused(path, "a foreign WAL database", "is not a cloudd database",
	    &err);
	free(path);

	/* text */
	path = tpath("text.db");
	for (i = 0; i < 200; i++)
		buf_add(&b, "line %d of a file that is no database at all\n", i);
	write_file(path, b.p, b.len);
	refused(path, "a text file", "is not a cloudd database: file is not a "
	    "database", &err);
	free(path);
	buf_clear(&b);

	path = tpath("short.db");
	write_file(path, "hello\n", 6);
	refused(path, "a short file", "file is not a database", &err);
	free(path);

	/* a newer schema */
	path = tpath("newer.db");
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st != NULL)
		put(st, CLD_T_USERS, 0, "oneadmin", "", &err);
	cld_store_close(st);
	raw_exec(path, "PRAGMA user_version = 99");
	snprintf(text, sizeof(text), "has schema version 99, newer than this "
	    "cloudd (%d): upgrade cloudd", cld_store_known_version());
	refused(path, "a newer schema", text, &err);
	free(path);

	/* corrupt pages in the middle of a real store */
	path = tpath("corrupt.db");
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st != NULL) {
		char body[2048];

		memset(body, 'x', sizeof(body) - 1);
		body[sizeof(body) - 1] = '\0';
		cld_store_begin(st, &err);
		for (i = 1; i <= 400; i++) {
			snprintf(text, sizeof(text), "vm-%d", i);
			put(st, CLD_T_VMS, i, text, body, &err);
			hist(st, i, 0, "x", &err);
		}
		cld_store_commit(st, &err);
	}
	cld_store_close(st);
	{
		char *data = slurp(path, &len);
		size_t off = (len / 2) & ~(size_t)4095, j;

		ok(data != NULL && len > 100 * 4096, "a store of %zu bytes to "
		    "corrupt", len);
		for (j = 0; data != NULL && j < 3 * 4096 && off + j < len; j++)
			data[off + j] = "GARBAGE!"[j % 8];
		if (data != NULL)
			write_file(path, data, len);
		free(data);
	}
	refused(path, "corrupt pages", "is corrupt", &err);
	free(path);

	/* the empty file: a new store */
	path = tpath("empty.db");
	write_file(path, "", 0);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL && cld_store_schema_version(st) ==
	    cld_store_known_version(), "an empty file becomes a new store");
	cld_store_close(st);
	raw_text(path, "SELECT count(*) FROM vm_history", text, sizeof(text));
	is_str(text, "0", "with its schema");
	free(path);

	/* an sqlite database with nothing in it: a new store too */
	path = tpath("blank.db");
	raw_exec(path, "CREATE TABLE x (a); DROP TABLE x;");
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL, "an sqlite database with no tables becomes a store");
	cld_store_close(st);
	free(path);

	/* one writer */
	path = tpath("locked.db");
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	cld_err_clear(&err);
	st2 = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL && st2 == NULL && err.code == CLD_EBUSY &&
	    has(err.msg, "is in use"), "a second open of the same store is "
	    "refused (%s)", err.msg);
	cld_store_close(st2);
	cld_store_close(st);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL, "once closed, it opens again");
	cld_store_close(st);
	free(path);

	/* paths that are no files */
	cld_err_clear(&err);
	ok(cld_store_open(tmpdir, CLD_SYNC_NORMAL, &err) == NULL &&
	    has(err.msg, "not a regular file") && has(err.msg, tmpdir),
	    "a directory is refused (%s)", err.msg);
	path = tpath("text.db/x.db");
	cld_err_clear(&err);
	ok(cld_store_open(path, CLD_SYNC_NORMAL, &err) == NULL &&
	    err.code == CLD_EIO && err.sys_errno == ENOTDIR &&
	    has(err.msg, path) && has(err.msg, strerror(ENOTDIR)),
	    "a path through a file is refused (%s)", err.msg);
	free(path);
	cld_err_clear(&err);
	ok(cld_store_open(tmpdir, 7, &err) == NULL && err.code == CLD_EINVAL,
	    "an invalid sync mode is refused");

	/* a failed creation leaves no file behind */
	{
		static const char *const bad[] = { "CREATE TABLE; nonsense" };
		char *wal, *shm;

		path = tpath("failed.db");
		wal = cld_xasprintf("%s-wal", path);
		shm = cld_xasprintf("%s-shm", path);
		cld_err_clear(&err);
		st = cld_store_open_migrations(path, CLD_SYNC_NORMAL, bad, 1,
		    &err);

		ok(st == NULL && has(err.msg, "cannot migrate") &&
		    !exists(path) && !exists(wal) && !exists(shm),
		    "a store whose creation failed leaves no file (%s)",
		    err.msg);
		cld_store_close(st);
		free(wal);
		free(shm);
		free(path);
	}
}

/*
 * Open PATH as a user that is not root (nobody) when we are root, since
 * root reads what it likes.  Returns 1 if the store opened, 0 with MSG.
 */
static int
open_unprivileged(const char *path, char *msg, size_t len)
{
	struct cld_store *st;
	struct cld_err err;
	int fds[2], status = 0;
	ssize_t n = 0, r;
	pid_t pid;

	msg[0] = '\0';
	if (geteuid() != 0) {
		st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
		if (st == NULL)
			snprintf(msg, len, "%s", err.msg);
		cld_store_close(st);
		return st != NULL;
	}
	if (pipe(fds) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(2);
		st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
		if (st == NULL && write(fds[1], err.msg, strlen(err.msg)) < 0)
			_exit(3);
		cld_store_close(st);
		_exit(st != NULL ? 1 : 0);
	}
	close(fds[1]);
	while (len > 1 && (r = read(fds[0], msg + n, len - 1 - (size_t)n)) > 0)
		n += r;
	msg[n] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return -1;
	return WEXITSTATUS(status);
}

static void
test_permissions(void)
{
	struct cld_store *st;
	struct cld_err err;
	char msg[CLD_ERR_MSG_MAX], *dir = tpath("perm"), *path, *ro;
	size_t len = 0;
	char *before;
	int r;

	if (geteuid() == 0)
		diag("running as root: permissions are tried as uid 65534");
	/* nobody must be able to walk down to our files */
	chmod(tmpdir, 0711);
	mkdir(dir, 0755);

	path = cld_xasprintf("%s/unreadable.db", dir);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	cld_store_close(st);
	chmod(path, 0600);
	if (geteuid() != 0)
		chmod(path, 0);
	before = slurp(path, &len);
	r = open_unprivileged(path, msg, sizeof(msg));
	ok(r == 0 && has(msg, path) && has(msg, strerror(EACCES)),
	    "an unreadable store is refused with the reason (%s)", msg);
	chmod(path, 0600);
	ok(before != NULL && file_is(path, before, len),
	    "the unreadable store is unchanged");
	free(before);
	free(path);

	path = cld_xasprintf("%s/readonly.db", dir);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	cld_store_close(st);
	chmod(path, 0444);
	before = slurp(path, &len);
	r = open_unprivileged(path, msg, sizeof(msg));
	ok(r == 0 && has(msg, "for writing") && has(msg, path),
	    "a write-protected store is refused (%s)", msg);
	ok(before != NULL && file_is(path, before, len),
	    "the write-protected store is unchanged");
	free(before);
	free(path);

	ro = cld_xasprintf("%s/ro", dir);
	mkdir(ro, 0755);
	path = cld_xasprintf("%s/kept.db", ro);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	cld_store_close(st);
	chmod(path, 0666);
	chmod(ro, 0555);
	before = slurp(path, &len);
	r = open_unprivileged(path, msg, sizeof(msg));
	ok(r == 0 && has(msg, path) && has(msg, strerror(EACCES)),
	    "a store in a read-only directory is refused (%s)", msg);
	ok(before != NULL && file_is(path, before, len),
	    "the store in the read-only directory is unchanged");
	free(before);
	free(path);

	path = cld_xasprintf("%s/new.db", ro);
	r = open_unprivileged(path, msg, sizeof(msg));
	ok(r == 0 && has(msg, "cannot create '") && has(msg, path) &&
	    has(msg, strerror(EACCES)),
	    "a new store in a read-only directory is refused (%s)", msg);
	ok(!exists(path), "and no file appears");
	chmod(ro, 0755);
	chmod(tmpdir, 0700);
	free(path);
	free(ro);
	free(dir);
}

static void
test_migrations(void)
{
	const char *steps[8];
	struct cld_store *st;
	struct cld_err err;
	char *path = tpath("migrate.db"), *before = NULL, *after = NULL;
	char text[128];
	int known = cld_store_known_version(), i;

	ok(known >= 1 && cld_store_migration(known - 1) != NULL &&
	    cld_store_migration(known) == NULL && known < 7,
	    "this build knows %d schema versions", known);
	for (i = 0; i < known; i++)
		steps[i] = cld_store_migration(i);
	steps[known] = "ALTER TABLE users ADD COLUMN quota INTEGER NOT NULL "
	    "DEFAULT 10; CREATE TABLE quotas (uid INTEGER PRIMARY KEY, vms "
	    "INTEGER NOT NULL);";
	steps[known + 1] = "CREATE TABLE y (a); this is not sql";

	/* a store made by this build, migrated by the next one */
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st != NULL) {
		put(st, CLD_T_USERS, 1, "alice", "", &err);
		put(st, CLD_T_VMS, 1, "web", "CPU = 1", &err);
		hist(st, 1, 0, "ok", &err);
		before = dump_all(st);
	}
	cld_store_close(st);

	/* the next one's step fails: the store stays as it was */
	steps[known] = steps[known + 1];
	cld_err_clear(&err);
	st = cld_store_open_migrations(path, CLD_SYNC_NORMAL, steps, known + 1,
	    &err);
	snprintf(text, sizeof(text), "cannot migrate '%s' from schema version "
	    "%d to %d: ", path, known, known + 1);
	ok(st == NULL && has(err.msg, text), "a failing step is refused (%s)",
	    err.msg);
	cld_store_close(st);
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	is_int(atoi(text), known, "the failed step left the version");
	raw_text(path, "SELECT count(*) FROM sqlite_master WHERE name = 'y'",
	    text, sizeof(text));
	is_str(text, "0", "and none of its changes");

	steps[known] = "ALTER TABLE users ADD COLUMN quota INTEGER NOT NULL "
	    "DEFAULT 10; CREATE TABLE quotas (uid INTEGER PRIMARY KEY, vms "
	    "INTEGER NOT NULL);";
	st = cld_store_open_migrations(path, CLD_SYNC_NORMAL, steps, known + 1,
	    &err);
	ok(st != NULL, "a store of version %d opens with one step more", known);
	is_int(st != NULL ? cld_store_schema_version(st) : -1, known + 1,
	    "and is migrated to version %d", known + 1);
	after = st != NULL ? dump_all(st) : NULL;
	is_str(after, before, "its rows are kept");
	cld_store_close(st);
	raw_text(path, "SELECT quota FROM users WHERE id = 1", text,
	    sizeof(text));
	is_str(text, "10", "the new step's column is there");
	raw_text(path, "PRAGMA user_version", text, sizeof(text));
	is_int(atoi(text), known + 1, "user_version records it");
	st = cld_store_open_migrations(path, CLD_SYNC_NORMAL, steps, known + 1,
	    &err);
	ok(st != NULL, "reopening at that version is a no-op");
	cld_store_close(st);

	/* and this build refuses what the next one made */
	snprintf(text, sizeof(text), "has schema version %d, newer than this "
	    "cloudd (%d): upgrade cloudd", known + 1, known);
	refused(path, "a store of the next version", text, &err);

	/* a store stopped at version 0 (an id, no tables) is built up */
	free(path);
	path = tpath("v0.db");
	snprintf(text, sizeof(text), "PRAGMA application_id = %d;"
	    "CREATE TABLE x (a); DROP TABLE x;", CLD_STORE_APPLICATION_ID);
	raw_exec(path, text);
	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	ok(st != NULL && cld_store_schema_version(st) == known &&
	    nrows(st, CLD_T_HOSTS) == 0, "a store at version 0 is migrated "
	    "to %d", known);
	cld_store_close(st);
	free(before);
	free(after);
	free(path);
}

static void
test_speed(void)
{
	struct cld_store *st;
	struct cld_err err;
	char name[32], *path = tpath("speed.db");
	const char *body = "CPU = 0.5\nVCPU = 1\nMEMORY = 512\n"
	    "DISK = [ IMAGE_ID = 3 ]\nNIC = [ NETWORK_ID = 1 ]\n";
	int64_t t0, ms;
	int i, n = 100000, fails = 0;

	st = cld_store_open(path, CLD_SYNC_NORMAL, &err);
	if (st == NULL) {
		ok(0, "open: %s", err.msg);
		free(path);
		return;
	}
	t0 = cld_now_ms();
	cld_store_begin(st, &err);
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "vm-%d", i);
		fails += put(st, CLD_T_VMS, i, name, body, &err) != 0;
	}
	fails += cld_store_commit(st, &err) != 0;
	ms = cld_now_ms() - t0;
	ok(fails == 0 && nrows(st, CLD_T_VMS) == n,
	    "%d puts in one transaction", n);
	diag("%d puts in one transaction: %" PRId64 " ms, %.0f rows/s", n, ms,
	    ms > 0 ? n * 1000.0 / (double)ms : 0.0);
	t0 = cld_now_ms();
	cld_store_begin(st, &err);
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "vm-%d", i);
		put(st, CLD_T_VMS, i, name, body, &err);
	}
	cld_store_commit(st, &err);
	ms = cld_now_ms() - t0;
	diag("%d replacing puts in one transaction: %" PRId64 " ms, "
	    "%.0f rows/s", n, ms, ms > 0 ? n * 1000.0 / (double)ms : 0.0);
	cld_store_close(st);
	free(path);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	const char *base = getenv("TMPDIR");

	tmpdir = cld_xasprintf("%s/cld-store.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		diag("cannot create '%s': %s", tmpdir, strerror(errno));
		free(tmpdir);
		return 1;
	}
	test_tables();
	test_history();
	test_leases();
	test_transactions();
	test_refusals();
	test_permissions();
	test_migrations();
	test_speed();
	if (nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		diag("cannot remove '%s': %s", tmpdir, strerror(errno));
	free(tmpdir);
	return done_testing();
}
