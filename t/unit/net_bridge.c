/*
 * net/bridge, linked in and driven through its class table by a stub core
 * whose svc->ssh records what would run on the host (the argv and the
 * ruleset on standard input) and answers as told: the exact rulesets of
 * pre, post and clean, the script's positional parameters, every refusal
 * of a bad value (before anything runs), and how the script's own failures
 * reach op->err.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cloudd/attr.h>
#include <cloudd/driver.h>
#include <cloudd/error.h>

#include "tap.h"
#include "template.h"

extern const struct cld_net_driver CLD_DRIVER_ENTRY(net_bridge);
#define NET (&CLD_DRIVER_ENTRY(net_bridge))

/* -- the stub core -- */

#define T_ARGV_MAX 64

static struct {
	int calls;                     /* svc->ssh calls */
	char host[64];
	char *argv[T_ARGV_MAX];        /* the last call's, copied */
	size_t argc;
	char *input;                   /* its standard input */
	/* what the next call answers */
	int status;
	const char *out, *errout;
	/* the last line logged above debug, and its level */
	char log[1024];
	int log_level;
	int nlog;
} t;

static CLD_PRINTF(3, 4) void
t_log(const struct cld_drv *drv, int level, const char *fmt, ...)
{
	va_list ap;

	(void)drv;
	if (level == CLD_LOG_DEBUG)
		return; /* the tests look at what an admin sees */
	va_start(ap, fmt);
	vsnprintf(t.log, sizeof(t.log), fmt, ap);
	va_end(ap);
	t.log_level = level;
	t.nlog++;
}

static void
t_reset(void)
{
	size_t i;

	for (i = 0; i < t.argc; i++)
		free(t.argv[i]);
	free(t.input);
	memset(&t, 0, sizeof(t));
}

static int
t_ssh(struct cld_op *op, const char *host, struct cld_run *r)
{
	const char *last;
	char line[1024];
	size_t i, n;

	for (i = 0; i < t.argc; i++)
		free(t.argv[i]);
	free(t.input);
	t.calls++;
	snprintf(t.host, sizeof(t.host), "%s", host);
	for (t.argc = 0; r->argv[t.argc] != NULL && t.argc < T_ARGV_MAX; t.argc++)
		t.argv[t.argc] = strdup(r->argv[t.argc]);
	t.input = r->input ? strndup(r->input, r->input_len) : NULL;
	r->status = t.status;
	r->out = strdup(t.out ? t.out : "");
	r->out_len = strlen(r->out);
	r->errout = strdup(t.errout ? t.errout : "");
	r->errout_len = strlen(r->errout);
	if (t.status == 0)
		return 0;
	/* As the core words it: the last line of standard error. */
	snprintf(line, sizeof(line), "%s", r->errout);
	while ((n = strlen(line)) > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	last = strrchr(line, '\n');
	cld_err_set(op->err, CLD_EDRIVER, "on '%s': 'ssh' exited with status %d: %s",
	    host, t.status, last ? last + 1 : line);
	return -1;
}

static int
t_cancelled(const struct cld_op *op)
{
	(void)op;
	return 0;
}

static int64_t
t_remaining_ms(const struct cld_op *op)
{
	(void)op;
	return 60000;
}

static const struct cld_services t_svc = {
	.size = sizeof(struct cld_services),
	.abi_major = CLD_ABI_MAJOR,
	.abi_minor = CLD_ABI_MINOR,
	.log = t_log,
	.ssh = t_ssh,
	.cancelled = t_cancelled,
	.remaining_ms = t_remaining_ms,
};

static struct cld_attr t_conf = { "NET_DRIVER", NULL, NULL, 0, 0, 0 };
static struct cld_drv t_drv = { &t_svc, "bridge", "bridge", &t_conf, NULL };

enum { PRE, POST, CLEAN };

/*
 * Run operation OPN on VM ID (on node1) whose template is TEXT, with
 * FLAGS.  Returns what the operation returned; ERR gets its report.
 */
static int
t_run(int opn, int64_t id, const char *text, unsigned int flags,
    struct cld_err *err)
{
	struct cld_tmpl tmpl;
	struct cld_vm_desc vm;
	struct cld_op op;
	int rc;

	memset(&tmpl, 0, sizeof(tmpl));
	cld_err_clear(err);
	if (cld_tmpl_parse(text, strlen(text), &tmpl, err) < 0) {
		diag("template: %s", err->msg);
		return -2;
	}
	memset(&vm, 0, sizeof(vm));
	vm.size = sizeof(vm);
	vm.id = id;
	vm.name = "cld-7";
	vm.host = "node1";
	vm.tmpl = &tmpl;
	memset(&op, 0, sizeof(op));
	op.drv = &t_drv;
	op.err = err;
	rc = opn == PRE ? NET->pre(&op, &vm, flags) :
	    opn == POST ? NET->post(&op, &vm, flags) :
	    NET->clean(&op, &vm, flags);
	cld_tmpl_release(&tmpl);
	return rc;
}

/* The positional parameters after the script: "op lock w1 w2 ...". */
static char *
t_params(void)
{
	static char buf[1024];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 4; i < t.argc && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s[%s]",
		    i > 4 ? " " : "", t.argv[i]);
	return buf;
}

/* -- the tests -- */

static const char nic_a[] =
    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0A:63:00:64\", IP = \"10.99.0.100\", TARGET = \"cld7n0\" ]\n";

static const char head[] =
    "add table bridge cloudd\n"
    "add map bridge cloudd ports { type ifname : verdict ; }\n"
    "add set bridge cloudd members { type ifname . ifname ; }\n";

static const char base[] =
    "add chain bridge cloudd prerouting { type filter hook prerouting priority filter ; policy accept ; }\n"
    "flush chain bridge cloudd prerouting\n"
    "add rule bridge cloudd prerouting iifname vmap @ports\n";

static const char chain_a[] =
    "add chain bridge cloudd nic-cld7n0\n"
    "flush chain bridge cloudd nic-cld7n0\n"
    "add rule bridge cloudd nic-cld7n0 ether saddr != 02:00:0a:63:00:64 counter drop comment \"source MAC not the NIC's\"\n"
    "add rule bridge cloudd nic-cld7n0 ether type { 8021q, 8021ad } counter drop comment \"VLAN tagged\"\n"
    "add rule bridge cloudd nic-cld7n0 arp htype != 1 counter drop comment \"ARP not over Ethernet\"\n"
    "add rule bridge cloudd nic-cld7n0 arp ptype != ip counter drop comment \"ARP not for IPv4\"\n"
    "add rule bridge cloudd nic-cld7n0 arp hlen != 6 counter drop comment \"ARP with a bad MAC length\"\n"
    "add rule bridge cloudd nic-cld7n0 arp plen != 4 counter drop comment \"ARP with a bad IP length\"\n"
    "add rule bridge cloudd nic-cld7n0 arp saddr ether != 02:00:0a:63:00:64 counter drop comment \"ARP sender MAC not the NIC's\"\n"
    "add rule bridge cloudd nic-cld7n0 arp saddr ip != 10.99.0.100 counter drop comment \"ARP sender IP not the NIC's\"\n"
    "add rule bridge cloudd nic-cld7n0 ether type arp accept\n"
    "add rule bridge cloudd nic-cld7n0 ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 counter accept comment \"DHCP request\"\n"
    "add rule bridge cloudd nic-cld7n0 ip saddr != 10.99.0.100 counter drop comment \"source IP not the NIC's\"\n"
    "add rule bridge cloudd nic-cld7n0 ether type ip accept\n"
    "add rule bridge cloudd nic-cld7n0 counter drop comment \"neither IPv4 nor ARP\"\n"
    "add element bridge cloudd ports { \"cld7n0\" : jump nic-cld7n0 }\n"
    "add element bridge cloudd members { \"br0\" . \"cld7n0\" }\n";

static const char clean_a[] =
    "add chain bridge cloudd nic-cld7n0\n"
    "add element bridge cloudd ports { \"cld7n0\" : jump nic-cld7n0 }\n"
    "add element bridge cloudd members { \"br0\" . \"cld7n0\" }\n"
    "delete element bridge cloudd ports { \"cld7n0\" }\n"
    "delete element bridge cloudd members { \"br0\" . \"cld7n0\" }\n"
    "flush chain bridge cloudd nic-cld7n0\n"
    "delete chain bridge cloudd nic-cld7n0\n";

/* Whether sh -n accepts SCRIPT. */
static int
t_sh_syntax(const char *script)
{
	char path[] = "/tmp/cld-net-bridge-XXXXXX", cmd[64];
	FILE *f;
	int fd, rc;

	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		return 0;
	fputs(script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh -n %s", path);
	rc = system(cmd);
	unlink(path);
	return rc == 0;
}

static char *
cat3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

static void
test_header(void)
{
	is_int(NET->hdr.magic, CLD_DRIVER_MAGIC, "magic");
	is_int(NET->hdr.klass, CLD_CLASS_NET, "class net");
	is_str(NET->hdr.name, "bridge", "name");
	is_int(NET->hdr.size, sizeof(struct cld_net_driver), "size");
	ok(NET->pre && NET->post && NET->clean, "pre, post and clean");
}

static void
test_pre_post_clean(void)
{
	struct cld_err err;
	char *want;

	t_reset();
	is_int(t_run(PRE, 7, nic_a, 0, &err), 0, "pre succeeds");
	is_int(t.calls, 1, "pre: one ssh call");
	is_str(t.host, "node1", "pre: on the VM's host");
	ok(t.argc == 10 && strcmp(t.argv[0], "sh") == 0 &&
	    strcmp(t.argv[1], "-c") == 0 && strcmp(t.argv[3], "sh") == 0,
	    "pre: sh -c SCRIPT sh ...");
	ok(strstr(t.argv[2], "nft -f -") != NULL &&
	    strstr(t.argv[2], "flock") != NULL, "pre: the script runs nft -f - under a lock");
	ok(t_sh_syntax(t.argv[2]), "pre: the script is valid sh (sh -n)");
	is_str(t_params(), "[pre] [/run/lock/cloudd-net-bridge] [br0] [] [] [cld7n0]",
	    "pre: its parameters: op, lock, BRIDGE PHYDEV VLAN_ID TARGET");
	want = cat3(head, base, chain_a);
	is_str(t.input, want, "pre: the ruleset (MAC in lower case)");

	t_reset();
	is_int(t_run(POST, 7, nic_a, 0, &err), 0, "post succeeds");
	is_str(t_params(), "[post] [/run/lock/cloudd-net-bridge] [br0] [] [] [cld7n0]",
	    "post: its parameters");
	is_str(t.input, want, "post: the same ruleset as pre");
	free(want);

	t_reset();
	is_int(t_run(CLEAN, 7, nic_a, 0, &err), 0, "clean succeeds");
	is_str(t_params(), "[clean] [/run/lock/cloudd-net-bridge] [br0] [] [] [cld7n0]",
	    "clean: its parameters");
	want = cat3(head, clean_a, "");
	is_str(t.input, want, "clean: add then delete, whatever is there");
	free(want);
}

static void
test_vlan_noip_two(void)
{
	struct cld_err err;

	t_reset();
	is_int(t_run(PRE, 7,
	    "NIC = [ BRIDGE = \"brv10\", MAC = \"02:00:0a:63:00:64\", IP = \"10.99.0.100\","
	    " TARGET = \"cld7n0\", VLAN_ID = \"10\", PHYDEV = \"eth0\" ]\n", 0, &err), 0,
	    "pre with a VLAN succeeds");
	is_str(t_params(), "[pre] [/run/lock/cloudd-net-bridge] [brv10] [eth0] [10] [cld7n0]",
	    "VLAN: PHYDEV and VLAN_ID reach the script");
	ok(strstr(t.input, "\"brv10\" . \"cld7n0\"") != NULL,
	    "VLAN: the NIC is registered on its bridge");

	t_reset();
	is_int(t_run(POST, 7,
	    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0\" ]\n",
	    0, &err), 0, "post without IP succeeds");
	ok(strstr(t.input, "ether saddr != 02:00:0a:63:00:64 counter drop") != NULL &&
	    strstr(t.input, "arp saddr ether != 02:00:0a:63:00:64") != NULL,
	    "no IP: still held to its MAC, in frames and in ARP");
	ok(strstr(t.input, "ip saddr") == NULL && strstr(t.input, "arp saddr ip") == NULL &&
	    strstr(t.input, "neither IPv4") == NULL,
	    "no IP: no address rule, other protocols allowed");

	/* What the core sends for NIC = [ BRIDGE = "br0" ]: no MAC, no IP. */
	t_reset();
	is_int(t_run(PRE, 7, "NIC = [ BRIDGE = \"br0\", TARGET = \"cld7n0\" ]\n",
	    0, &err), 0, "a plain NIC without MAC or IP: pre succeeds");
	is_str(t_params(), "[pre] [/run/lock/cloudd-net-bridge] [br0] [] [] [cld7n0]",
	    "plain NIC: its bridge is made as for any NIC");
	ok(strstr(t.input, "nic-cld7n0 ether type { 8021q, 8021ad } counter drop") != NULL &&
	    strstr(t.input, "nic-cld7n0 arp hlen != 6 counter drop") != NULL,
	    "plain NIC: still no VLAN tags, only well-formed ARP");
	ok(strstr(t.input, "saddr") == NULL && strstr(t.input, "neither IPv4") == NULL,
	    "plain NIC: no MAC or address rule (the hypervisor picks its MAC)");
	ok(strstr(t.input, "{ \"br0\" . \"cld7n0\" }") != NULL &&
	    strstr(t.input, "{ \"cld7n0\" : jump nic-cld7n0 }") != NULL,
	    "plain NIC: registered on its bridge, its chain in the map");

	t_reset();
	is_int(t_run(PRE, 12,
	    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", IP = \"10.99.0.100\", TARGET = \"cld12n0\" ]\n"
	    "NIC = [ BRIDGE = \"br1\", MAC = \"02:00:0a:63:01:64\", IP = \"192.168.1.5\", TARGET = \"cld12n1\" ]\n",
	    0, &err), 0, "pre with two NICs succeeds");
	is_int(t.calls, 1, "two NICs: still one ssh call");
	is_str(t_params(), "[pre] [/run/lock/cloudd-net-bridge] [br0] [] [] [cld12n0] [br1] [] [] [cld12n1]",
	    "two NICs: four words each");
	ok(strstr(t.input, "nic-cld12n0 ip saddr != 10.99.0.100") != NULL &&
	    strstr(t.input, "nic-cld12n1 ip saddr != 192.168.1.5") != NULL,
	    "two NICs: a chain each, each with its own address");
	ok(strstr(t.input, "{ \"br1\" . \"cld12n1\" }") != NULL,
	    "two NICs: each registered on its bridge");

	t_reset();
	is_int(t_run(PRE, 7, "CPU = 1\nDISK = [ SOURCE = \"/x\" ]\n", 0, &err), 0,
	    "a VM without NICs: pre succeeds");
	is_int(t_run(CLEAN, 7, "CPU = 1\n", 0, &err), 0, "... and clean");
	is_int(t.calls, 0, "... without going to the host");
}

/* A NIC that pre must refuse before anything runs, with WANT in the message. */
static void
refused(const char *nic, const char *want)
{
	struct cld_err err;
	char text[1024];

	t_reset();
	snprintf(text, sizeof(text), "NIC = [ %s ]\n", nic);
	ok(t_run(PRE, 7, text, 0, &err) == -1 && err.code == CLD_EINVAL,
	    "refused: %s", nic);
	if (strstr(err.msg, want) == NULL)
		diag("message: %s", err.msg);
	ok(strstr(err.msg, want) != NULL, "... saying \"%s\"", want);
	is_int(t.calls, 0, "... before anything runs");
}

#define GOOD "MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0\""

static void
test_refusals(void)
{
	refused("MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0\"",
	    "NIC 0: BRIDGE is missing");
	refused("BRIDGE = \"br0;reboot\", " GOOD,
	    "NIC 0: BRIDGE 'br0;reboot' is not an interface name");
	refused("BRIDGE = \"$(reboot)\", " GOOD, "BRIDGE '$(reboot)' is not");
	refused("BRIDGE = \"-br0\", " GOOD, "BRIDGE '-br0' is not");
	refused("BRIDGE = \".br\", " GOOD, "BRIDGE '.br' is not");
	refused("BRIDGE = \"\", " GOOD, "BRIDGE '' is not");
	refused("BRIDGE = \"br0123456789abcd\", " GOOD,
	    "BRIDGE 'br0123456789abcd' is not");
	refused("BRIDGE = \"br\tx\", " GOOD, "BRIDGE 'br?x' is not");
	refused("BRIDGE = \"b\\\"r\", " GOOD, "is not an interface name");
	/*
	 * TARGET is the core's (core/nic.c sets it, "cld<VM id>n<index>",
	 * and refuses a template that sets it): no template reaches these
	 * checks through cloudd, so they are covered here only.
	 */
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\"",
	    "NIC 0: TARGET is missing");
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld8n0\"",
	    "NIC 0: TARGET 'cld8n0' is not one of this VM's tap names");
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n\"",
	    "TARGET 'cld7n' is not one of this VM's");
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0x\"",
	    "TARGET 'cld7n0x' is not one of this VM's");
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld77n0\"",
	    "TARGET 'cld77n0' is not one of this VM's");
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00\", TARGET = \"cld7n0\"",
	    "MAC '02:00:0a:63:00' is not six hexadecimal bytes");
	refused("BRIDGE = \"br0\", MAC = \"02-00-0a-63-00-64\", TARGET = \"cld7n0\"",
	    "is not six hexadecimal bytes");
	refused("BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:6g\", TARGET = \"cld7n0\"",
	    "is not six hexadecimal bytes");
	refused("BRIDGE = \"br0\", MAC = \"ff:ff:ff:ff:ff:ff\", TARGET = \"cld7n0\"",
	    "MAC 'ff:ff:ff:ff:ff:ff' is a multicast address");
	refused("BRIDGE = \"br0\", MAC = \"00:00:00:00:00:00\", TARGET = \"cld7n0\"",
	    "is all zeros");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"10.0.0\"",
	    "NIC 0: IP '10.0.0' is not an IPv4 address");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"10.0.0.256\"", "is not an IPv4");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"010.0.0.1\"", "is not an IPv4");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"10.0.0.1/24\"", "is not an IPv4");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \" 10.0.0.1\"", "is not an IPv4");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"fe80::1\"", "is not an IPv4");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"\"", "IP '' is not an IPv4");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"0.0.0.0\"", "is in 0.0.0.0/8");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"127.0.0.1\"", "is a loopback address");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"224.0.0.1\"", "is a multicast, reserved or broadcast");
	refused("BRIDGE = \"br0\", " GOOD ", IP = \"255.255.255.255\"", "is a multicast, reserved or broadcast");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"0\", PHYDEV = \"eth0\"",
	    "NIC 0: VLAN_ID '0' is not a VLAN id (a whole number from 1 to 4094)");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"4095\", PHYDEV = \"eth0\"",
	    "VLAN_ID '4095' is not a VLAN id");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"010\", PHYDEV = \"eth0\"",
	    "VLAN_ID '010' is not a VLAN id");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"-1\", PHYDEV = \"eth0\"",
	    "VLAN_ID '-1' is not a VLAN id");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"10 \", PHYDEV = \"eth0\"",
	    "VLAN_ID '10 ' is not a VLAN id");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"10\"",
	    "NIC 0: PHYDEV is missing: a NIC with VLAN_ID needs");
	refused("BRIDGE = \"br0\", " GOOD ", PHYDEV = \"eth0\"",
	    "NIC 0: VLAN_ID is missing: net/bridge uses PHYDEV only for VLANs");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"10\", PHYDEV = \"eth0 type\"",
	    "NIC 0: PHYDEV 'eth0 type' is not an interface name");
	refused("BRIDGE = \"br0\", " GOOD ", VLAN_ID = \"4094\", PHYDEV = \"enp0s31f6x1\"",
	    "PHYDEV 'enp0s31f6x1' is too long for its VLAN interface");
	refused("BRIDGE = \"cld7n0\", " GOOD,
	    "NIC 0: BRIDGE, TARGET, PHYDEV and its VLAN interface must be different");
	refused("BRIDGE = \"eth0.10\", " GOOD ", VLAN_ID = \"10\", PHYDEV = \"eth0\"",
	    "must be different interfaces");
	refused("BRIDGE = \"eth0\", " GOOD ", VLAN_ID = \"10\", PHYDEV = \"eth0\"",
	    "must be different interfaces");
}

static void
test_nics_together(void)
{
	struct cld_err err;
	static const char two_same[] =
	    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0\" ]\n"
	    "NIC = [ BRIDGE = \"br1\", MAC = \"02:00:0a:63:00:65\", TARGET = \"cld7n0\" ]\n";
	static const char bad_second[] =
	    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0\" ]\n"
	    "NIC = [ BRIDGE = \"br1\", MAC = \"02:00:0a:63:00:65\", TARGET = \"cld7n1\", IP = \"x\" ]\n";

	t_reset();
	ok(t_run(PRE, 7, two_same, 0, &err) == -1 && err.code == CLD_EINVAL &&
	    strstr(err.msg, "NIC 0: TARGET 'cld7n0' is also an interface of NIC 1") != NULL,
	    "two NICs with one TARGET: refused (%s)", err.msg);
	ok(t_run(PRE, 7,
	    "NIC = [ BRIDGE = \"br0\", MAC = \"02:00:0a:63:00:64\", TARGET = \"cld7n0\" ]\n"
	    "NIC = [ BRIDGE = \"cld7n0\", MAC = \"02:00:0a:63:00:65\", TARGET = \"cld7n1\" ]\n",
	    0, &err) == -1 && strstr(err.msg, "NIC 0: TARGET 'cld7n0' is also an interface of NIC 1") != NULL,
	    "a TARGET that is another NIC's bridge: refused (%s)", err.msg);
	ok(t_run(PRE, 7, bad_second, 0, &err) == -1 &&
	    strstr(err.msg, "NIC 1: IP 'x'") != NULL,
	    "a bad second NIC fails the whole operation (%s)", err.msg);
	is_int(t.calls, 0, "... and nothing runs for the first one either");

	/* clean leaves a bad NIC alone and cleans the rest. */
	t_reset();
	is_int(t_run(CLEAN, 7, bad_second, 0, &err), 0,
	    "clean with a bad NIC succeeds");
	is_int(t.calls, 1, "... cleaning the good one");
	ok(strstr(t.input, "delete chain bridge cloudd nic-cld7n0\n") != NULL &&
	    strstr(t.input, "cld7n1") == NULL, "... only the good one");
	is_int(t.log_level, CLD_LOG_WARN, "... with a warning");
	ok(strstr(t.log, "left alone: NIC 1: IP 'x'") != NULL, "... that says why: %s",
	    t.log);

	t_reset();
	is_int(t_run(CLEAN, 7, two_same, 0, &err), 0, "clean with one TARGET twice succeeds");
	ok(t.input != NULL && strstr(t.input, "delete chain bridge cloudd nic-cld7n0\n") != NULL &&
	    strstr(strstr(t.input, "delete chain") + 1, "delete chain") == NULL,
	    "... removing its chain once");

	t_reset();
	is_int(t_run(CLEAN, 7, "NIC = [ BRIDGE = \"a;b\" ]\n", 0, &err), 0,
	    "clean with only bad NICs succeeds");
	is_int(t.calls, 0, "... without going to the host");
}

static void
test_flags_and_failures(void)
{
	struct cld_err err;

	t_reset();
	ok(t_run(PRE, 7, nic_a, 1, &err) == -1 && err.code == CLD_EINVAL &&
	    strcmp(err.msg, "unknown flags 0x1") == 0, "pre: unknown flags refused");
	ok(t_run(POST, 7, nic_a, 4, &err) == -1 && err.code == CLD_EINVAL,
	    "post: unknown flags refused");
	ok(t_run(CLEAN, 7, nic_a, 8, &err) == -1 && err.code == CLD_EINVAL,
	    "clean: unknown flags refused");
	is_int(t.calls, 0, "... before anything runs");

	/* The script's own reason replaces ssh's wording. */
	t_reset();
	t.status = 3;
	t.errout = "some noise\nnet/bridge: 'eth0' exists and is not a bridge\n";
	ok(t_run(PRE, 7, nic_a, 0, &err) == -1 && err.code == CLD_EDRIVER,
	    "a refusal of the script fails pre");
	is_str(err.msg, "on 'node1': 'eth0' exists and is not a bridge",
	    "... with the script's reason, on the host");

	/* Anything else keeps the core's report. */
	t_reset();
	t.status = 255;
	t.errout = "ssh: connect to host node1 port 22: Connection refused\n";
	ok(t_run(CLEAN, 7, nic_a, 0, &err) == -1, "an unreachable host fails clean");
	ok(strstr(err.msg, "Connection refused") != NULL &&
	    strstr(err.msg, "status 255") != NULL, "... saying so: %s", err.msg);

	/* What clean kept is logged. */
	t_reset();
	t.out = "kept bridge 'br0': cloudd did not make it\n";
	is_int(t_run(CLEAN, 7, nic_a, 0, &err), 0, "clean that keeps a bridge succeeds");
	is_int(t.log_level, CLD_LOG_INFO, "... logging it");
	ok(strstr(t.log, "clean 'cld-7' on 'node1': kept bridge 'br0': cloudd did not make it") != NULL,
	    "... saying which and why: %s", t.log);
	t_reset();
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_header();
	test_pre_post_clean();
	test_vlan_noip_two();
	test_refusals();
	test_nics_together();
	test_flags_and_failures();
	return done_testing();
}
