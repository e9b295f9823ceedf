package execroot_test

import "syscall"

type syscallStat = syscall.Stat_t

func lstat(p string, st *syscall.Stat_t) error { return syscall.Lstat(p, st) }
