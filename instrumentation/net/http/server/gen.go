package server

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types -type server_event -type event_kind -type route_source -type server_route probe probe.bpf.c -- -I../../../../bpf/include -I/usr/include/x86_64-linux-gnu
