/*
 * The API's resources: routing, permissions and JSON (jansson), on the
 * loop thread.  HACKING ("The API (v1)") and cloudctl(1) describe them.
 *
 * Who asks is the peer's uid; uid 0 is the admin.  Users see and act on
 * their own VMs; hosts, clusters and networks are visible to all and
 * changed by the admin only (any user's NIC may use any network; who holds
 * an address is shown only for one's own VMs).  Every body is a JSON object whose fields are checked: an
 * unknown field or a wrong type is refused, never ignored.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "log.h"
#include "template.h"
#include "util.h"
#include "vmlog.h"

#define LIST_DEFAULT 100
#define LIST_MAX 100000

struct ctx {
	struct cld_core *c;
	struct cld_request *r;
	struct cld_api_req *q;
	int admin;
	char *parts[4];            /* the path after /v1/, split on '/' */
	int nparts;
	int readonly;              /* on an API thread, under the read lock */
	int defer;                 /* readonly and it needs the loop */
};

/* --------------------------------------------------------------- replies */

static void
reply_json(struct ctx *x, int status, json_t *body)
{
	x->q->status = status;
	x->q->reply = json_dumps(body, JSON_COMPACT);
	x->q->reply_len = x->q->reply ? strlen(x->q->reply) : 0;
	json_decref(body);
}

static void
reply_error(struct ctx *x, int status, const char *code, const char *fmt, ...)
    CLD_PRINTF(4, 5);

static void
reply_error(struct ctx *x, int status, const char *code, const char *fmt, ...)
{
	char msg[CLD_ERR_MSG_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->q->status = status;
	x->q->reply = cld_api_error_body(code, msg);
	x->q->reply_len = strlen(x->q->reply);
	/* A refused request changed nothing: no need to wait for a commit. */
	x->r->mutating = 0;
}

/* The HTTP status and code of a core error. */
static void
reply_err(struct ctx *x, const struct cld_err *err)
{
	static const struct {
		int code, status;
		const char *name;
	} map[] = {
		{ CLD_EINVAL, 400, "bad_request" },
		{ CLD_ENOENT, 404, "not_found" },
		{ CLD_EEXIST, 409, "conflict" },
		{ CLD_EBUSY, 409, "conflict" },
		{ CLD_ENOSPC, 409, "no_capacity" },
		{ CLD_ENOTSUP, 409, "not_supported" },
		{ CLD_EPERM, 403, "forbidden" },
	};

	for (size_t i = 0; i < CLD_ARRAY_SIZE(map); i++)
		if (map[i].code == err->code) {
			reply_error(x, map[i].status, map[i].name, "%s",
			    err->msg);
			return;
		}
	reply_error(x, 500, "internal", "%s", err->msg);
}

static int
need_admin(struct ctx *x, const char *what)
{
	if (x->admin)
		return 0;
	reply_error(x, 403, "forbidden", "only the admin (root) may %s", what);
	return -1;
}

/* ------------------------------------------------------------- requests */

struct field {
	const char *name;
	int type;                  /* JSON_STRING, JSON_TRUE (boolean), JSON_INTEGER */
	int required;
};

static const char *
type_name(int t)
{
	return t == JSON_STRING ? "a string" : t == JSON_TRUE ? "true or false" :
	    t == JSON_INTEGER ? "an integer" : "?";
}

/*
 * Parse the body as a JSON object with only FIELDS, each of its type.
 * Returns the object (the caller json_decref()s it), or NULL after
 * replying 400.
 */
static json_t *
parse_body(struct ctx *x, const struct field *fields)
{
	json_error_t jerr;
	json_t *o;
	const char *k;
	json_t *v;

	if (x->q->body_len == 0) {
		reply_error(x, 400, "bad_request",
		    "the request needs a JSON object as its body");
		return NULL;
	}
	o = json_loadb(x->q->body, x->q->body_len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (o == NULL) {
		reply_error(x, 400, "bad_request",
		    "malformed JSON: line %d, column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		reply_error(x, 400, "bad_request",
		    "the body must be a JSON object");
		json_decref(o);
		return NULL;
	}
	json_object_foreach(o, k, v) {
		const struct field *f;
		int ok;

		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, k) == 0)
				break;
		if (f->name == NULL) {
			reply_error(x, 400, "bad_request", "unknown field '%s'",
			    k);
			json_decref(o);
			return NULL;
		}
		ok = f->type == JSON_TRUE ? json_is_boolean(v) :
		    f->type == JSON_INTEGER ? json_is_integer(v) :
		    json_is_string(v);
		if (!ok) {
			reply_error(x, 400, "bad_request",
			    "field '%s' must be %s", k, type_name(f->type));
			json_decref(o);
			return NULL;
		}
		if (f->type == JSON_STRING &&
		    strlen(json_string_value(v)) != json_string_length(v)) {
			reply_error(x, 400, "bad_request",
			    "field '%s' contains a NUL character", k);
			json_decref(o);
			return NULL;
		}
	}
	for (const struct field *f = fields; f->name != NULL; f++)
		if (f->required && json_object_get(o, f->name) == NULL) {
			reply_error(x, 400, "bad_request",
			    "missing field '%s'", f->name);
			json_decref(o);
			return NULL;
		}
	return o;
}

static const char *
str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The value of query parameter NAME (raw, no escapes expected), or NULL. */
static int
query_get(struct ctx *x, const char *name, char *out, size_t len)
{
	const char *q = x->q->query;
	size_t nl = strlen(name);

	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&');
		size_t seg = amp ? (size_t)(amp - q) : strlen(q);

		if (seg > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
			size_t vl = seg - nl - 1;

			if (vl >= len)
				vl = len - 1;
			memcpy(out, q + nl + 1, vl);
			out[vl] = '\0';
			return 1;
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* offset and limit of a list; -1 after replying 400. */
static int
paging(struct ctx *x, int64_t *offset, int64_t *limit)
{
	char v[32];

	*offset = 0;
	*limit = LIST_DEFAULT;
	if (query_get(x, "offset", v, sizeof(v)) &&
	    (cld_parse_i64(v, offset) < 0 || *offset < 0)) {
		reply_error(x, 400, "bad_request",
		    "offset must be a whole number >= 0");
		return -1;
	}
	if (query_get(x, "limit", v, sizeof(v)) &&
	    (cld_parse_i64(v, limit) < 0 || *limit < 1 || *limit > LIST_MAX)) {
		reply_error(x, 400, "bad_request",
		    "limit must be a whole number from 1 to %d", LIST_MAX);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ VMs */

void
cld_vm_json_invalidate(struct cld_vm *vm)
{
	free(vm->json);
	vm->json = NULL;
	vm->json_len = 0;
}

/*
 * What the VM is doing: its step and, while the step's driver reports
 * progress, how far it has got ("clone disks: 42%, copied 430 of 1024
 * MiB").  Read from the job's control block, which the driver's thread
 * updates under its own lock.
 */
static const char *
vm_progress(const struct cld_vm *vm, char *buf, size_t sz)
{
	struct cld_op_ctl *ctl;
	char what[sizeof(ctl->what)];
	int pct;

	if (vm->progress == NULL || vm->job == NULL)
		return vm->progress;
	ctl = &vm->job->ctl;
	if ((pct = atomic_load(&ctl->percent)) < 0)
		return vm->progress;
	pthread_mutex_lock(&ctl->lock);
	memcpy(what, ctl->what, sizeof(what));
	pthread_mutex_unlock(&ctl->lock);
	snprintf(buf, sz, "%s: %d%%%s%s", vm->progress, pct,
	    what[0] != '\0' ? ", " : "", what);
	return buf;
}

/* What each NIC is plugged into, as the drivers see it. */
static json_t *
nics_json(const struct cld_vm *vm)
{
	const struct cld_attr *v = NULL;
	json_t *a = json_array();
	int64_t id;

	while ((v = cld_tmpl_next_vector(&vm->tmpl, "NIC", v)) != NULL) {
		const char *nid = cld_vector_get(v, "NETWORK_ID");
		json_t *o = json_pack("{ss? ss? ss? ss? ss?}",
		    "network", cld_vector_get(v, "NETWORK"),
		    "ip", cld_vector_get(v, "IP"),
		    "mac", cld_vector_get(v, "MAC"),
		    "bridge", cld_vector_get(v, "BRIDGE"),
		    "target", cld_vector_get(v, "TARGET"));

		if (o == NULL)
			fatalx("json_pack failed for the NICs of VM %" PRId64,
			    vm->id);
		json_object_set_new(o, "network_id", nid != NULL &&
		    cld_parse_i64(nid, &id) == 0 ? json_integer(id) :
		    json_null());
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
vm_json(struct cld_core *c, const struct cld_vm *vm)
{
	const char *reason = vm->reason;
	char progress[256];
	json_t *o;

	if (reason == NULL && vm->state == CLD_VM_PENDING)
		reason = cld_sched_why(c->sched, vm->id);
	o = json_pack("{sI ss sI sI ss ss ss? sI sf si sI s{sf sI sI sI} ss? ss? sI sI ss?}",
	    "id", (json_int_t)vm->id,
	    "name", vm->name,
	    "uid", (json_int_t)vm->uid,
	    "gid", (json_int_t)vm->gid,
	    "state", cld_vm_state_name(vm->state),
	    "short", cld_vm_state_short(vm->state),
	    "host", vm->host ? vm->host->name : NULL,
	    "host_id", (json_int_t)(vm->host ? vm->host->id : -1),
	    "cpu", vm->cpu,
	    "vcpu", (int)vm->vcpu,
	    "memory", (json_int_t)vm->memory_mb,
	    "usage", "cpu", vm->ucpu, "memory", (json_int_t)vm->umem,
	    "netrx", (json_int_t)vm->netrx, "nettx", (json_int_t)vm->nettx,
	    "reason", reason,
	    "failed", vm->state == CLD_VM_FAILED && vm->failed_state >= 0 ?
	    cld_vm_state_name(vm->failed_state) : NULL,
	    "stime", (json_int_t)vm->stime,
	    "etime", (json_int_t)vm->etime,
	    "progress", vm_progress(vm, progress, sizeof(progress)));
	if (o == NULL)
		fatalx("json_pack failed for VM %" PRId64, vm->id);
	json_object_set_new(o, "nics", nics_json(vm));
	return o;
}

/* Growing output buffer for lists. */
struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = cld_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/*
 * Append VM's list entry to B.  The entry is cached until the VM changes
 * (the loop drops it, holding the state lock for writing); readers fill
 * it under json_lock.  A PENDING VM's entry says why it waits, and a busy
 * VM's how far its step has got, which change without the VM: never cached.
 */
static void
vm_json_append(struct cld_core *c, struct cld_vm *vm, struct buf *b)
{
	json_t *o;
	char *t;

	if (vm->state == CLD_VM_PENDING || vm->job != NULL) {
		o = vm_json(c, vm);
		t = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (t == NULL)
			fatalx("out of memory");
		buf_add(b, t, strlen(t));
		free(t);
		return;
	}
	pthread_mutex_lock(&c->json_lock);
	if (vm->json == NULL) {
		o = vm_json(c, vm);
		vm->json = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (vm->json == NULL)
			fatalx("out of memory");
		vm->json_len = strlen(vm->json);
	}
	buf_add(b, vm->json, vm->json_len);
	pthread_mutex_unlock(&c->json_lock);
}

static int
can_see(struct ctx *x, const struct cld_vm *vm)
{
	return x->admin || (uid_t)vm->uid == x->q->uid;
}

static void
vm_list(struct ctx *x)
{
	struct cld_core *c = x->c;
	int64_t offset, limit, total = 0, uid = -1;
	int state = -1;
	struct cld_host *host = NULL;
	char v[256], head[128];
	struct buf b = { NULL, 0, 0 };
	json_t *env;
	char *envs;

	if (paging(x, &offset, &limit) < 0)
		return;
	if (query_get(x, "state", v, sizeof(v)) &&
	    (state = cld_vm_state_from_name(v)) < 0) {
		reply_error(x, 400, "bad_request", "unknown state '%s'", v);
		return;
	}
	if (query_get(x, "host", v, sizeof(v)) &&
	    (host = cld_host_find(c, v)) == NULL) {
		reply_error(x, 404, "not_found", "no host '%s'", v);
		return;
	}
	if (query_get(x, "uid", v, sizeof(v)) && cld_parse_i64(v, &uid) < 0) {
		reply_error(x, 400, "bad_request", "uid must be a number");
		return;
	}
	/*
	 * The entries are each VM's cached JSON text (made by jansson), put
	 * side by side: a list of 20,000 VMs costs a copy, not 20,000
	 * encodings.
	 */
	buf_add(&b, "[", 1);
	for (size_t i = 0; i < c->vms_cap; i++) {
		struct cld_vm *vm = c->vms[i];

		if (vm == NULL || vm->state == CLD_VM_DONE || !can_see(x, vm) ||
		    (state >= 0 && vm->state != state) ||
		    (host != NULL && vm->host != host) ||
		    (uid >= 0 && vm->uid != uid))
			continue;
		if (total++ < offset || total - offset > limit)
			continue;
		if (b.len > 1)
			buf_add(&b, ",", 1);
		vm_json_append(c, vm, &b);
	}
	buf_add(&b, "]", 1);
	env = json_pack("{sI sI sI}", "total", (json_int_t)total, "offset",
	    (json_int_t)offset, "limit", (json_int_t)limit);
	envs = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	/* envs is {"total":..,"offset":..,"limit":..}: open it and add vms. */
	snprintf(head, sizeof(head), "%.*s,\"vms\":", (int)strlen(envs) - 1,
	    envs);
	free(envs);
	{
		struct buf out = { NULL, 0, 0 };

		buf_add(&out, head, strlen(head));
		buf_add(&out, b.p, b.len);
		buf_add(&out, "}", 1);
		x->q->status = 200;
		x->q->reply = out.p;
		x->q->reply_len = out.len;
	}
	free(b.p);
}

struct done_ctx {
	json_t *o;
	struct cld_core *c;
	int err;
};

struct cld_vm *cld_vm_from_row(struct cld_core *c, const struct cld_row *row,
    struct cld_err *err);
static json_t *vm_json(struct cld_core *c, const struct cld_vm *vm);

/* A VM row of the store (a VM that ended) as the API shows a VM. */
static int
done_row(void *ctx, const struct cld_row *row)
{
	struct done_ctx *d = ctx;
	struct cld_row r = *row;
	struct cld_err err;
	struct cld_vm *vm;
	char *t;

	cld_err_clear(&err);
	r.ref = -1;               /* the host it left may be gone */
	vm = cld_vm_from_row(d->c, &r, &err);
	if (vm == NULL) {
		d->err = 1;
		return 1;
	}
	d->o = vm_json(d->c, vm);
	t = cld_tmpl_print(&vm->tmpl);
	json_object_set_new(d->o, "template", json_string(t));
	free(t);
	cld_vm_free(vm);
	return 1;
}

static int
hist_row(void *ctx, const struct cld_hist *h)
{
	json_t *arr = ctx;
	static const char *const reasons[] = { "", "done", "failed",
		"migrated", "stopped", "deleted" };

	json_array_append_new(arr, json_pack(
	    "{si ss sI sI sI sI sI sI sI ss ss}", "seq", h->seq, "host",
	    h->host, "host_id", (json_int_t)h->host_id, "start",
	    (json_int_t)h->start, "prolog_end", (json_int_t)h->prolog_end,
	    "boot_end", (json_int_t)h->boot_end, "running_end",
	    (json_int_t)h->running_end, "epilog_end",
	    (json_int_t)h->epilog_end, "end", (json_int_t)h->end, "reason",
	    h->reason >= 0 && h->reason < 6 ? reasons[h->reason] : "",
	    "message", h->message));
	return 0;
}

/*
 * A VM that ended is only in the store: its row as JSON if the asker may
 * see it, else NULL after replying 404 (or 500).
 */
static json_t *
ended_vm(struct ctx *x, int64_t id)
{
	struct done_ctx d = { NULL, x->c, 0 };
	struct cld_err err;

	cld_err_clear(&err);
	if (cld_store_get(x->c->store, CLD_T_VMS, id, done_row, &d, &err) < 0) {
		reply_err(x, &err);
		return NULL;
	}
	if (d.err) {
		reply_error(x, 500, "internal",
		    "VM %" PRId64 " cannot be read from the store", id);
		return NULL;
	}
	if (d.o == NULL || (!x->admin && json_integer_value(
	    json_object_get(d.o, "uid")) != (json_int_t)x->q->uid)) {
		json_decref(d.o);
		reply_error(x, 404, "not_found", "no VM %" PRId64, id);
		return NULL;
	}
	return d.o;
}

/* Whether the path names a VM that has left memory (DONE). */
static int
is_ended(struct ctx *x, int64_t *id)
{
	return cld_parse_i64(x->parts[1], id) == 0 && *id >= 0 &&
	    cld_vm_find(x->c, *id) == NULL && *id < x->c->next_vm_id;
}

/* The VM of the path's id that the asker may see; NULL after replying. */
static struct cld_vm *
vm_of_path(struct ctx *x)
{
	int64_t id;
	struct cld_vm *vm;

	if (cld_parse_i64(x->parts[1], &id) < 0 || id < 0) {
		reply_error(x, 404, "not_found", "no VM '%s'", x->parts[1]);
		return NULL;
	}
	vm = cld_vm_find(x->c, id);
	if (vm == NULL || !can_see(x, vm)) {
		reply_error(x, 404, "not_found", "no VM %" PRId64, id);
		return NULL;
	}
	return vm;
}

static void
vm_show(struct ctx *x)
{
	struct cld_core *c = x->c;
	struct cld_vm *vm;
	struct cld_err err;
	json_t *o, *hist;
	int64_t id;
	char *t;

	cld_err_clear(&err);
	if (is_ended(x, &id)) {
		if (x->readonly) {
			x->defer = 1;   /* in the store: the loop's */
			return;
		}
		if ((o = ended_vm(x, id)) == NULL)
			return;
		hist = json_array();
		cld_store_hist_load(c->store, id, hist_row, hist, &err);
		json_object_set_new(o, "history", hist);
		reply_json(x, 200, o);
		return;
	}
	if ((vm = vm_of_path(x)) == NULL)
		return;
	o = vm_json(c, vm);
	t = cld_tmpl_print(&vm->tmpl);
	json_object_set_new(o, "template", json_string(t));
	free(t);
	/* A live VM's whole history is in memory. */
	hist = json_array();
	for (size_t i = 0; i <= vm->npast; i++) {
		const struct cld_vm_hist *vh = i < vm->npast ? &vm->past[i].h :
		    &vm->hist;
		struct cld_host *h = cld_host_by_id(c, vh->host_id);
		struct cld_hist ch = { vm->id, vh->seq, vh->host_id,
			h ? h->name : "", vh->start, vh->prolog_end,
			vh->boot_end, vh->running_end, vh->epilog_end, vh->end,
			vh->reason, i < vm->npast ? vm->past[i].msg :
			vm->reason ? vm->reason : "" };

		if (vh->seq > 0)
			hist_row(hist, &ch);
	}
	json_object_set_new(o, "history", hist);
	reply_json(x, 200, o);
}

static void
vm_log(struct ctx *x)
{
	struct cld_vm *vm = NULL;
	struct cld_err err;
	char *path, *text;
	size_t len = 0;
	json_t *o;
	int64_t id;

	if (is_ended(x, &id)) {
		if (x->readonly) {
			x->defer = 1;
			return;
		}
		if ((o = ended_vm(x, id)) == NULL)
			return;
		json_decref(o);
	} else if ((vm = vm_of_path(x)) == NULL)
		return;
	else
		id = vm->id;
	cld_err_clear(&err);
	cld_vmlog_flush();
	path = cld_vm_log_path(x->c, id);
	text = cld_read_file(path, &len, &err);
	free(path);
	o = json_pack("{ss%}", "log", text ? text : "", text ? len : 0);
	free(text);
	if (o == NULL) {
		reply_error(x, 500, "internal",
		    "the log of VM %" PRId64 " is not valid UTF-8", id);
		return;
	}
	reply_json(x, 200, o);
}

static void
vm_create(struct ctx *x)
{
	static const struct field f[] = {
		{ "template", JSON_STRING, 1 }, { "hold", JSON_TRUE, 0 },
		{ NULL, 0, 0 },
	};
	json_t *o = parse_body(x, f);
	struct cld_err err;
	struct cld_vm *vm;

	if (o == NULL)
		return;
	cld_err_clear(&err);
	vm = cld_vm_create(x->c, str(o, "template"),
	    json_string_length(json_object_get(o, "template")), x->q->uid,
	    x->q->gid, json_is_true(json_object_get(o, "hold")), &err);
	json_decref(o);
	if (vm == NULL) {
		if (err.code == CLD_EBUSY)
			reply_err(x, &err);    /* the address asked for is taken */
		else
			reply_error(x, 400, "bad_template", "%s", err.msg);
		return;
	}
	reply_json(x, 201, vm_json(x->c, vm));
}

static void
vm_act(struct ctx *x, const char *action_override)
{
	static const struct field f[] = {
		{ "action", JSON_STRING, 1 }, { "host", JSON_STRING, 0 },
		{ "live", JSON_TRUE, 0 }, { "hard", JSON_TRUE, 0 },
		{ "mode", JSON_STRING, 0 }, { NULL, 0, 0 },
	};
	struct cld_vm *vm;
	struct cld_host *h = NULL;
	struct cld_err err;
	const char *a, *hn;
	json_t *o = NULL;
	int64_t id;

	if (is_ended(x, &id)) {
		/* It exists (in the store) but can no longer act. */
		if ((o = ended_vm(x, id)) == NULL)
			return;
		json_decref(o);
		reply_error(x, 409, "conflict", "VM %" PRId64 " is DONE", id);
		return;
	}
	if ((vm = vm_of_path(x)) == NULL)
		return;
	cld_err_clear(&err);
	if (action_override != NULL)
		a = action_override;
	else {
		if ((o = parse_body(x, f)) == NULL)
			return;
		a = str(o, "action");
	}
	if ((strcmp(a, "deploy") == 0 || strcmp(a, "migrate") == 0) &&
	    need_admin(x, "choose the host of a VM") < 0)
		goto cleanup;
	if (o != NULL && (hn = str(o, "host")) != NULL &&
	    (h = cld_host_find(x->c, hn)) == NULL) {
		reply_error(x, 404, "not_found", "no host '%s'", hn);
		goto cleanup;
	}
	if (cld_vm_action(x->c, vm, a, h,
	    o ? json_is_true(json_object_get(o, "live")) : 0,
	    o ? json_is_true(json_object_get(o, "hard")) : 0,
	    o ? str(o, "mode") : NULL, &err) < 0) {
		reply_err(x, &err);
		goto cleanup;
	}
	reply_json(x, 200, vm_json(x->c, vm));
cleanup:
	json_decref(o);
}

/* ---------------------------------------------------------------- hosts */

static json_t *
host_json(struct cld_core *c, const struct cld_host *h, int full)
{
	struct cld_cluster *cl = cld_host_cluster(c, h);
	json_t *o;

	o = json_pack("{sI ss ss? sI ss ss ss ss si sf sf sf sI sI sI si ss? sI}",
	    "id", (json_int_t)h->id, "name", h->name,
	    "cluster", cl ? cl->name : NULL,
	    "cluster_id", (json_int_t)h->cluster_id,
	    "im", h->im, "vmm", h->vmm,
	    "state", cld_host_state_name(h->state),
	    "short", cld_host_state_short(h->state),
	    "rvm", h->rvm,
	    "tcpu", h->tcpu, "fcpu", h->tcpu - h->ucpu,
	    "acpu", h->tcpu - h->cpu_alloc,
	    "tmem", (json_int_t)h->tmem, "fmem", (json_int_t)h->fmem,
	    "amem", (json_int_t)(h->tmem > h->mem_alloc ?
	    h->tmem - h->mem_alloc : 0),
	    "max_vms", h->max_vms,
	    "error", h->error,
	    "monitored", (json_int_t)h->monitored);
	if (o == NULL)
		fatalx("json_pack failed for host %" PRId64, h->id);
	if (full) {
		json_t *a = json_object();

		for (size_t i = 0; i < h->attrs.n; i++)
			if (h->attrs.attrs[i].value != NULL)
				json_object_set_new(a, h->attrs.attrs[i].name,
				    json_string(h->attrs.attrs[i].value));
		json_object_set_new(o, "attributes", a);
	}
	return o;
}

static void
list_of(struct ctx *x, const char *key, json_t *items, int64_t total,
    int64_t offset, int64_t limit)
{
	reply_json(x, 200, json_pack("{sI sI sI so}", "total",
	    (json_int_t)total, "offset", (json_int_t)offset, "limit",
	    (json_int_t)limit, key, items));
}

static void
host_list(struct ctx *x)
{
	int64_t offset, limit, total = 0;
	json_t *a;

	if (paging(x, &offset, &limit) < 0)
		return;
	a = json_array();
	for (size_t i = 0; i < x->c->hosts_cap; i++) {
		struct cld_host *h = x->c->hosts[i];

		if (h == NULL)
			continue;
		if (total++ < offset || total - offset > limit)
			continue;
		json_array_append_new(a, host_json(x->c, h, 0));
	}
	list_of(x, "hosts", a, total, offset, limit);
}

static struct cld_host *
host_of_path(struct ctx *x)
{
	struct cld_host *h = cld_host_find(x->c, x->parts[1]);

	if (h == NULL)
		reply_error(x, 404, "not_found", "no host '%s'", x->parts[1]);
	return h;
}

static void
host_create(struct ctx *x)
{
	static const struct field f[] = {
		{ "name", JSON_STRING, 1 }, { "im", JSON_STRING, 1 },
		{ "vmm", JSON_STRING, 1 }, { "cluster", JSON_STRING, 0 },
		{ "max_vms", JSON_INTEGER, 0 }, { NULL, 0, 0 },
	};
	struct cld_cluster *cl = NULL;
	struct cld_host *h;
	struct cld_err err;
	json_int_t max = 0;
	json_t *o;

	if (need_admin(x, "create hosts") < 0 || (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	if (str(o, "cluster") != NULL &&
	    (cl = cld_cluster_find(x->c, str(o, "cluster"))) == NULL) {
		reply_error(x, 404, "not_found", "no cluster '%s'",
		    str(o, "cluster"));
		goto cleanup;
	}
	if (json_object_get(o, "max_vms") != NULL) {
		max = json_integer_value(json_object_get(o, "max_vms"));
		if (max < 0 || max > 1000000) {
			reply_error(x, 400, "bad_request",
			    "max_vms must be from 0 (no limit) to 1000000");
			goto cleanup;
		}
	}
	h = cld_host_create(x->c, str(o, "name"), str(o, "im"), str(o, "vmm"),
	    cl, (int)max, &err);
	if (h == NULL) {
		if (err.code == CLD_ENOENT)
			err.code = CLD_EINVAL;  /* a bad driver name is bad input */
		reply_err(x, &err);
		goto cleanup;
	}
	reply_json(x, 201, host_json(x->c, h, 0));
cleanup:
	json_decref(o);
}

static void
host_act(struct ctx *x)
{
	static const struct field f[] = {
		{ "action", JSON_STRING, 1 }, { NULL, 0, 0 },
	};
	struct cld_host *h;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "change hosts") < 0 || (h = host_of_path(x)) == NULL ||
	    (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	if (cld_host_action(x->c, h, str(o, "action"), &err) < 0)
		reply_err(x, &err);
	else
		reply_json(x, 200, host_json(x->c, h, 0));
	json_decref(o);
}

static void
host_patch(struct ctx *x)
{
	static const struct field f[] = {
		{ "cluster", JSON_STRING, 1 }, { NULL, 0, 0 },
	};
	struct cld_host *h;
	struct cld_cluster *cl;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "change hosts") < 0 || (h = host_of_path(x)) == NULL ||
	    (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	if ((cl = cld_cluster_find(x->c, str(o, "cluster"))) == NULL)
		reply_error(x, 404, "not_found", "no cluster '%s'",
		    str(o, "cluster"));
	else if (cld_host_move(x->c, h, cl, &err) < 0)
		reply_err(x, &err);
	else
		reply_json(x, 200, host_json(x->c, h, 0));
	json_decref(o);
}

static void
host_delete(struct ctx *x)
{
	struct cld_host *h;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "delete hosts") < 0 || (h = host_of_path(x)) == NULL)
		return;
	cld_err_clear(&err);
	o = host_json(x->c, h, 0);
	if (cld_host_delete(x->c, h, &err) < 0) {
		json_decref(o);
		reply_err(x, &err);
		return;
	}
	reply_json(x, 200, o);
}

/* ------------------------------------------------------------- clusters */

static json_t *
cluster_json(const struct cld_cluster *cl)
{
	return json_pack("{sI ss ss ss si}", "id", (json_int_t)cl->id, "name",
	    cl->name, "tm", cl->tm, "net", cl->net, "hosts", cl->nhosts);
}

static struct cld_cluster *
cluster_of_path(struct ctx *x)
{
	struct cld_cluster *cl = cld_cluster_find(x->c, x->parts[1]);

	if (cl == NULL)
		reply_error(x, 404, "not_found", "no cluster '%s'", x->parts[1]);
	return cl;
}

static void
cluster_list(struct ctx *x)
{
	int64_t offset, limit, total = 0;
	json_t *a;

	if (paging(x, &offset, &limit) < 0)
		return;
	a = json_array();
	for (size_t i = 0; i < x->c->clusters_cap; i++) {
		struct cld_cluster *cl = x->c->clusters[i];

		if (cl == NULL)
			continue;
		if (total++ < offset || total - offset > limit)
			continue;
		json_array_append_new(a, cluster_json(cl));
	}
	list_of(x, "clusters", a, total, offset, limit);
}

static void
cluster_create(struct ctx *x)
{
	static const struct field f[] = {
		{ "name", JSON_STRING, 1 }, { "tm", JSON_STRING, 0 },
		{ "net", JSON_STRING, 0 }, { NULL, 0, 0 },
	};
	struct cld_cluster *cl;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "create clusters") < 0 ||
	    (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	cl = cld_cluster_create(x->c, str(o, "name"), str(o, "tm"),
	    str(o, "net"), &err);
	if (cl == NULL) {
		if (err.code == CLD_ENOENT)
			err.code = CLD_EINVAL;
		reply_err(x, &err);
	} else
		reply_json(x, 201, cluster_json(cl));
	json_decref(o);
}

static void
cluster_patch(struct ctx *x)
{
	static const struct field f[] = {
		{ "tm", JSON_STRING, 0 }, { "net", JSON_STRING, 0 },
		{ NULL, 0, 0 },
	};
	struct cld_cluster *cl;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "change clusters") < 0 ||
	    (cl = cluster_of_path(x)) == NULL || (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	if (cld_cluster_set(x->c, cl, str(o, "tm"), str(o, "net"), &err) < 0) {
		if (err.code == CLD_ENOENT)
			err.code = CLD_EINVAL;
		reply_err(x, &err);
	} else
		reply_json(x, 200, cluster_json(cl));
	json_decref(o);
}

static void
cluster_delete(struct ctx *x)
{
	struct cld_cluster *cl;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "delete clusters") < 0 ||
	    (cl = cluster_of_path(x)) == NULL)
		return;
	cld_err_clear(&err);
	o = cluster_json(cl);
	if (cld_cluster_delete(x->c, cl, &err) < 0) {
		json_decref(o);
		reply_err(x, &err);
		return;
	}
	reply_json(x, 200, o);
}

/* ------------------------------------------------------------- networks */

static json_t *
vnet_json(struct ctx *x, const struct cld_vnet *vn, int full)
{
	char range[64], first[16], last[16], mask[16];
	uint32_t m = cld_vnet_netmask(vn);
	json_t *o;

	cld_vnet_describe(vn, range, sizeof(range));
	cld_ipv4_format(cld_vnet_addr(vn, 0), first);
	cld_ipv4_format(vn->fixed ? 0 : cld_vnet_addr(vn, vn->size - 1), last);
	cld_ipv4_format(m, mask);
	o = json_pack("{sI ss sI sI ss ss? ss? ss? ss ss? ss? ss? ss sI sI sI sI sI}",
	    "id", (json_int_t)vn->id, "name", vn->name,
	    "uid", (json_int_t)vn->uid, "gid", (json_int_t)vn->gid,
	    "bridge", vn->bridge, "phydev", vn->phydev,
	    "gateway", vn->gateway_s, "dns", vn->dns,
	    "addresses", range,
	    "first", vn->fixed ? NULL : first,
	    "last", vn->fixed ? NULL : last,
	    "netmask", m != 0 ? mask : NULL,
	    "mac_prefix", cld_tmpl_get(&vn->tmpl, "MAC_PREFIX"),
	    "size", (json_int_t)cld_vnet_nleasable(vn),
	    "used", (json_int_t)vn->nused, "held", (json_int_t)vn->nheld,
	    "free", (json_int_t)cld_vnet_nfree(vn),
	    "vms", (json_int_t)vn->nrefs);
	if (o == NULL)
		fatalx("json_pack failed for network %" PRId64, vn->id);
	json_object_set_new(o, "vlan_id", vn->vlan_id > 0 ?
	    json_integer(vn->vlan_id) : json_null());
	json_object_set_new(o, "prefix", vn->prefix >= 0 ?
	    json_integer(vn->prefix) : json_null());
	if (full) {
		uint32_t *order = cld_vnet_sorted(vn);
		json_t *leases = json_array();
		char *t = cld_tmpl_print(&vn->tmpl);

		json_object_set_new(o, "template", json_string(t));
		free(t);
		for (uint32_t i = 0; i < vn->nents; i++) {
			const struct cld_lease_ent *e = &vn->ents[order[i]];
			const struct cld_vm *vm = e->state == CLD_LEASE_USED ?
			    cld_vm_find(x->c, e->vm_id) : NULL;
			char ip[16], mac[18];
			json_t *l;

			if (e->state == CLD_LEASE_RELEASED)
				continue;
			/* Another user's VM: that the address is taken, no more. */
			if (vm != NULL && !x->admin &&
			    (uid_t)vm->uid != x->q->uid)
				vm = NULL;
			cld_vnet_ip_text(vn, e->idx, ip);
			cld_vnet_mac_text(vn, e->idx, mac);
			l = json_pack("{ss ss ss}", "ip", ip, "mac", mac,
			    "state", e->state == CLD_LEASE_USED ? "used" :
			    e->state == CLD_LEASE_HELD ? "held" : "gateway");
			json_object_set_new(l, "vm", vm != NULL ?
			    json_integer(vm->id) : json_null());
			json_object_set_new(l, "vm_name", vm != NULL ?
			    json_string(vm->name) : json_null());
			json_object_set_new(l, "uid", vm != NULL ?
			    json_integer(vm->uid) : json_null());
			json_array_append_new(leases, l);
		}
		free(order);
		json_object_set_new(o, "leases", leases);
	}
	return o;
}

static struct cld_vnet *
vnet_of_path(struct ctx *x)
{
	struct cld_vnet *vn = cld_vnet_find(x->c, x->parts[1]);

	if (vn == NULL)
		reply_error(x, 404, "not_found", "no network '%s'", x->parts[1]);
	return vn;
}

static void
vnet_list(struct ctx *x)
{
	int64_t offset, limit, total = 0;
	json_t *a;

	if (paging(x, &offset, &limit) < 0)
		return;
	a = json_array();
	for (size_t i = 0; i < x->c->vnets_cap; i++) {
		struct cld_vnet *vn = x->c->vnets[i];

		if (vn == NULL)
			continue;
		if (total++ < offset || total - offset > limit)
			continue;
		json_array_append_new(a, vnet_json(x, vn, 0));
	}
	list_of(x, "vnets", a, total, offset, limit);
}

static void
vnet_show(struct ctx *x)
{
	struct cld_vnet *vn = vnet_of_path(x);

	if (vn != NULL)
		reply_json(x, 200, vnet_json(x, vn, 1));
}

static void
vnet_create(struct ctx *x)
{
	static const struct field f[] = {
		{ "template", JSON_STRING, 1 }, { NULL, 0, 0 },
	};
	struct cld_vnet *vn;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "create networks") < 0 ||
	    (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	vn = cld_vnet_add(x->c, str(o, "template"),
	    json_string_length(json_object_get(o, "template")), x->q->uid,
	    x->q->gid, &err);
	json_decref(o);
	if (vn == NULL) {
		if (err.code == CLD_EINVAL)
			reply_error(x, 400, "bad_template", "%s", err.msg);
		else
			reply_err(x, &err);
		return;
	}
	reply_json(x, 201, vnet_json(x, vn, 0));
}

static void
vnet_act(struct ctx *x)
{
	static const struct field f[] = {
		{ "action", JSON_STRING, 1 }, { "ip", JSON_STRING, 0 },
		{ NULL, 0, 0 },
	};
	struct cld_vnet *vn;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "hold or release addresses") < 0 ||
	    (vn = vnet_of_path(x)) == NULL || (o = parse_body(x, f)) == NULL)
		return;
	cld_err_clear(&err);
	if (cld_vnet_action(x->c, vn, str(o, "action"), str(o, "ip"),
	    &err) < 0)
		reply_err(x, &err);
	else
		reply_json(x, 200, vnet_json(x, vn, 0));
	json_decref(o);
}

static void
vnet_delete(struct ctx *x)
{
	struct cld_vnet *vn;
	struct cld_err err;
	json_t *o;

	if (need_admin(x, "delete networks") < 0 ||
	    (vn = vnet_of_path(x)) == NULL)
		return;
	cld_err_clear(&err);
	o = vnet_json(x, vn, 0);
	if (cld_vnet_delete(x->c, vn, &err) < 0) {
		json_decref(o);
		reply_err(x, &err);
		return;
	}
	reply_json(x, 200, o);
}

/* --------------------------------------------------------------- routing */

static void
bad_method(struct ctx *x, const char *allowed)
{
	reply_error(x, 405, "method_not_allowed",
	    "%s is not allowed on '%s' (allowed: %s)", x->q->method,
	    x->q->path, allowed);
	x->q->allow = allowed;     /* a string literal: outlives the reply */
}

static void
vm_delete(struct ctx *x)
{
	vm_act(x, "delete");
}

static void
vm_actions(struct ctx *x)
{
	vm_act(x, NULL);
}

static void
host_show(struct ctx *x)
{
	struct cld_host *h = host_of_path(x);

	if (h != NULL)
		reply_json(x, 200, host_json(x->c, h, 1));
}

static void
cluster_show(struct ctx *x)
{
	struct cld_cluster *cl = cluster_of_path(x);

	if (cl != NULL)
		reply_json(x, 200, cluster_json(cl));
}

/* The shapes of a path after /v1/: COLL, COLL/ID, COLL/ID/actions, COLL/ID/log. */
enum { R_LIST, R_ITEM, R_ACTIONS, R_LOG };

/* Every resource, its methods, and what the 405 reply's Allow says. */
static const struct route {
	const char *coll;
	int shape;
	const char *allow;
	struct {
		const char *method;
		void (*fn)(struct ctx *x);
	} m[3];
} routes[] = {
	{ "vms", R_LIST, "GET, POST", { { "GET", vm_list }, { "POST", vm_create } } },
	{ "vms", R_ITEM, "GET, DELETE", { { "GET", vm_show }, { "DELETE", vm_delete } } },
	{ "vms", R_ACTIONS, "POST", { { "POST", vm_actions } } },
	{ "vms", R_LOG, "GET", { { "GET", vm_log } } },
	{ "hosts", R_LIST, "GET, POST", { { "GET", host_list }, { "POST", host_create } } },
	{ "hosts", R_ITEM, "GET, PATCH, DELETE", { { "GET", host_show },
	    { "PATCH", host_patch }, { "DELETE", host_delete } } },
	{ "hosts", R_ACTIONS, "POST", { { "POST", host_act } } },
	{ "clusters", R_LIST, "GET, POST", { { "GET", cluster_list },
	    { "POST", cluster_create } } },
	{ "clusters", R_ITEM, "GET, PATCH, DELETE", { { "GET", cluster_show },
	    { "PATCH", cluster_patch }, { "DELETE", cluster_delete } } },
	{ "vnets", R_LIST, "GET, POST", { { "GET", vnet_list },
	    { "POST", vnet_create } } },
	{ "vnets", R_ITEM, "GET, DELETE", { { "GET", vnet_show },
	    { "DELETE", vnet_delete } } },
	{ "vnets", R_ACTIONS, "POST", { { "POST", vnet_act } } },
};

static void
route(struct ctx *x)
{
	const char *coll = x->nparts > 0 ? x->parts[0] : "";
	int n = x->nparts, shape = -1;

	/* Until proven otherwise, anything but a read changes state. */
	x->r->mutating = strcmp(x->q->method, "GET") != 0 &&
	    strcmp(x->q->method, "HEAD") != 0;
	if (n == 1)
		shape = R_LIST;
	else if (n == 2)
		shape = R_ITEM;
	else if (n == 3 && strcmp(x->parts[2], "actions") == 0)
		shape = R_ACTIONS;
	else if (n == 3 && strcmp(x->parts[2], "log") == 0)
		shape = R_LOG;
	for (size_t i = 0; i < CLD_ARRAY_SIZE(routes); i++) {
		const struct route *rt = &routes[i];

		if (rt->shape != shape || strcmp(rt->coll, coll) != 0)
			continue;
		for (size_t k = 0; k < CLD_ARRAY_SIZE(rt->m) && rt->m[k].method; k++)
			if (strcmp(rt->m[k].method, x->q->method) == 0) {
				rt->m[k].fn(x);
				return;
			}
		bad_method(x, rt->allow);
		return;
	}
	reply_error(x, 404, "not_found", "no such resource '%s'", x->q->path);
}

static void
handle(struct cld_core *c, struct cld_request *r, struct ctx *xp)
{
	struct ctx x = *xp;
	char *path, *p, *save = NULL;

	x.c = c;
	x.r = r;
	x.q = r->req;
	x.admin = r->req->uid == 0;
	r->mutating = 0;
	if (strncmp(x.q->path, "/v1/", 4) != 0 && strcmp(x.q->path, "/v1") != 0) {
		reply_error(&x, 404, "not_found",
		    "no such resource '%s': the API is under /v1/", x.q->path);
		return;
	}
	path = cld_xstrdup(x.q->path + 3);
	for (p = strtok_r(path, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save)) {
		if (x.nparts == (int)CLD_ARRAY_SIZE(x.parts)) {
			x.nparts++;
			break;
		}
		x.parts[x.nparts++] = p;
	}
	if (x.nparts > (int)CLD_ARRAY_SIZE(x.parts)) {
		x.nparts = 0;
		reply_error(&x, 404, "not_found", "no such resource '%s'",
		    x.q->path);
	} else
		route(&x);
	free(path);
	xp->defer = x.defer;
}

void
cld_handle(struct cld_core *c, struct cld_request *r)
{
	struct ctx x;

	memset(&x, 0, sizeof(x));
	handle(c, r, &x);
}

int
cld_handle_read(struct cld_core *c, struct cld_api_req *req)
{
	struct cld_request r;
	struct ctx x;

	memset(&r, 0, sizeof(r));
	memset(&x, 0, sizeof(x));
	r.req = req;
	x.readonly = 1;
	handle(c, &r, &x);
	if (x.defer) {
		/* Nothing was answered; the loop will. */
		free(req->reply);
		req->reply = NULL;
		req->reply_len = 0;
		req->status = 0;
		return 0;
	}
	return 1;
}
