// The physical floor of start-up and stop (issue 17), and the bench's tiny static service.
// One program, chosen by the basename of argv[0]:
//   run [FD]   the service: writes one byte to FD if given, then sleeps until a signal ends it.
//   finish     the service's ./finish: creates ../../finished/NAME (NAME: the basename of the
//              working directory, which is the service directory).
//   floor start N   N children, each exec()s this program as a supervisor stand-in that
//              fork+exec()s `run` (as runsvdir -> runsv -> ./run); prints the time until all N
//              services run.
//   floor stop N    the same N pairs in service directories under a temporary directory; then
//              SIGTERM to every stand-in, each TERMs its run, waits, fork+exec()s `finish` in its
//              directory, waits, exits; prints the time from the first SIGTERM until all are
//              reaped, and how many ./finish ran.
//   floor runit N   start-up as `start`, but each stand-in first does what runit's runsv must
//              do for supervise/ (mkdir, lock, the control and ok FIFOs, pid, stat and status
//              written atomically before `ok` and again after the fork): the floor of any
//              runit-compatible supervisor.
//   floor -w start|stop|runit N   for `make bench`, as PID 1 of a PID namespace: prints "running"
//              once all N run, then waits for SIGTERM before it stops them (the bench times
//              both from outside, as it times the supervisors).
// No supervisor is involved: what is left is fork, exec, exit and signal delivery.
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/file.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static const char *base(const char *p) {
  const char *b = strrchr(p, '/');
  return b ? b + 1 : p;
}

static void spawn(char *const argv[]) {
  execv("/proc/self/exe", argv);
  _exit(127);
}

// NAME in supervise/, written as runit writes it: NAME.new, then renamed.
static void put(const char *name, const void *body, size_t n) {
  char tmp[64], dst[64];
  snprintf(tmp, sizeof tmp, "supervise/%s.new", name);
  snprintf(dst, sizeof dst, "supervise/%s", name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, body, n) != (ssize_t)n || close(fd) || rename(tmp, dst)) _exit(111);
}

// runit's three state files for `pid` (0: down).
static void state(pid_t pid) {
  char b[16] = "", st[20] = {0};
  int n = pid ? snprintf(b, sizeof b, "%d\n", (int)pid) : 0;
  put("pid", b, n);
  put("stat", pid ? "run\n" : "down\n", pid ? 4 : 5);
  memcpy(st + 12, &pid, 4);
  st[17] = 'u';
  st[19] = pid != 0;
  put("status", st, 20);
}

// What runit's runsv does in supervise/ before its first start.
static void supervise(void) {
  mkdir("supervise", 0700);
  int l = open("supervise/lock", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (l < 0 || flock(l, LOCK_EX | LOCK_NB)) _exit(111);
  mkfifo("supervise/control", 0600);
  if (open("supervise/control", O_RDONLY | O_NONBLOCK | O_CLOEXEC) < 0) _exit(111);
  if (open("supervise/control", O_WRONLY | O_NONBLOCK | O_CLOEXEC) < 0) _exit(111);
  state(0);
  mkfifo("supervise/ok", 0600);
  if (open("supervise/ok", O_RDONLY | O_NONBLOCK | O_CLOEXEC) < 0) _exit(111);
}

// The supervisor stand-in: argv = mid FD DIR MODE (DIR "-": no directory, no finish; MODE
// "r": runit's supervise/ files, and "running" is said once they say run).
static int mid(char **v) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, 0);
  if (strcmp(v[2], "-") && chdir(v[2])) return 111;
  int runit = !strcmp(v[3], "r");
  if (runit) supervise();
  pid_t leaf = fork();
  if (!leaf) {
    sigprocmask(SIG_UNBLOCK, &term, 0);
    char *a[] = {"run", runit ? 0 : v[1], 0};
    spawn(a);
  }
  if (runit) {
    state(leaf);
    write(atoi(v[1]), "x", 1);
  }
  int sig;
  sigwait(&term, &sig);
  kill(leaf, SIGTERM);
  waitpid(leaf, 0, 0);
  if (!strcmp(v[2], "-") || runit) return 0;
  pid_t f = fork();
  if (!f) {
    sigprocmask(SIG_UNBLOCK, &term, 0);
    char *a[] = {"finish", 0};
    spawn(a);
  }
  waitpid(f, 0, 0);
  return 0;
}

static int finish(void) {
  char cwd[4096], p[4200];
  if (!getcwd(cwd, sizeof cwd)) return 111;
  snprintf(p, sizeof p, "../../finished/%s", base(cwd));
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  return fd < 0 ? 111 : 0;
}

// kind: 0 start, 1 stop, 2 start with runit's supervise/ files.
static int floor_run(int kind, int n, int wait) {
  int stop = kind == 1, dirs = kind != 0;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, 0);
  char root[] = "/dev/shm/urunit-floor-XXXXXX", d[4200];
  if (dirs && !mkdtemp(root)) return perror("mkdtemp"), 111;
  if (dirs) {
    snprintf(d, sizeof d, "%s/service", root);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/finished", root);
    mkdir(d, 0755);
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return perror("pipe"), 111;
  char fd[16];
  snprintf(fd, sizeof fd, "%d", p[1]);
  pid_t *k = calloc(n, sizeof *k);
  double t0 = now();
  for (int i = 0; i < n; i++) {
    char dir[4200] = "-";
    if (dirs) {
      snprintf(dir, sizeof dir, "%s/service/s%03d", root, i);
      mkdir(dir, 0755);
    }
    if (!(k[i] = fork())) {
      dup2(p[1], p[1] + 1);  // the pipe without CLOEXEC, at FD + 1
      snprintf(fd, sizeof fd, "%d", p[1] + 1);
      char *a[] = {"mid", fd, dir, kind == 2 ? "r" : "-", 0};
      spawn(a);
    }
  }
  char c;
  for (int i = 0; i < n; i++) read(p[0], &c, 1);
  double t1 = now();
  if (wait) {
    printf("running\n");
    fflush(stdout);
    int sig;
    sigwait(&term, &sig);
    t1 = now();
  } else if (!stop) {
    printf("%s %d %.1f ms\n", kind ? "runit" : "start", n, t1 - t0);
  }
  for (int i = 0; i < n; i++) kill(k[i], SIGTERM);
  for (int i = 0; i < n; i++) waitpid(k[i], 0, 0);
  double t2 = now();
  if (stop) {
    int ran = 0;
    for (int i = 0; i < n; i++) {
      snprintf(d, sizeof d, "%s/finished/s%03d", root, i);
      ran += !unlink(d);
      snprintf(d, sizeof d, "%s/service/s%03d", root, i);
      rmdir(d);
    }
    snprintf(d, sizeof d, "%s/finished", root);
    rmdir(d);
    snprintf(d, sizeof d, "%s/service", root);
    rmdir(d);
    rmdir(root);
    printf("stop %d %.1f ms %d\n", n, t2 - t1, ran);
  }
  if (kind == 2) {
    snprintf(d, sizeof d, "rm -rf %s", root);
    if (system(d)) return 111;
  }
  fflush(stdout);
  return 0;
}

int main(int c, char **v) {
  const char *me = base(v[0]);
  if (!strcmp(me, "run")) {
    if (c > 1) write(atoi(v[1]), "x", 1);
    for (;;) pause();
  }
  if (!strcmp(me, "finish")) return finish();
  if (!strcmp(me, "mid") && c == 4) return mid(v);
  int w = c == 4 && !strcmp(v[1], "-w");
  static const char *kinds[] = {"start", "stop", "runit"};
  for (int k = 0; c == 3 + w && k < 3; k++)
    if (!strcmp(v[1 + w], kinds[k])) return floor_run(k, atoi(v[2 + w]), w);
  fprintf(stderr, "usage: floor [-w] start|stop|runit N\n");
  return 100;
}
