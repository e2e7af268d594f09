// The physical floor of start-up (issue 17): N children, each exec()s a static program that
// fork+exec()s a second one (as runsvdir -> runsv -> ./run); the time until all N second
// programs run. `make floor` prints it for N = 50 and 500 (no supervisor involved).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/wait.h>
#include <signal.h>
#ifndef FLOOR_BIN
#define FLOOR_BIN "target/floor"
#endif
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int c,char**v){
  if(c>1&&!strcmp(v[1],"mid")){ int p[2]; int fd=atoi(v[2]); pid_t k=fork(); if(!k){ char*a[]={FLOOR_BIN,"leaf",v[2],0}; execv(a[0],a); _exit(1);} pause(); return 0; }
  if(c>1&&!strcmp(v[1],"leaf")){ int fd=atoi(v[2]); write(fd,"x",1); pause(); return 0; }
  int n=atoi(v[1]); int p[2]; pipe(p); double t0=now();
  pid_t *k=malloc(n*sizeof(pid_t));
  for(int i=0;i<n;i++){ k[i]=fork(); if(!k[i]){ char b[16]; sprintf(b,"%d",p[1]); char*a[]={FLOOR_BIN,"mid",b,0}; execv(a[0],a); _exit(1);} }
  char buf[1]; for(int i=0;i<n;i++) read(p[0],buf,1);
  printf("%d %.1f ms\n", n, now()-t0); fflush(stdout);
  signal(SIGTERM, SIG_IGN); kill(0, SIGTERM); return 0;
}
