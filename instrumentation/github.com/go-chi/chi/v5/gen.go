package chi

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types probe probe.bpf.c -- -I../../../../../bpf/include -I/usr/include/x86_64-linux-gnu
