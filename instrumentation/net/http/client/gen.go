package client

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types -type client_event -type event_kind probe probe.bpf.c -- -I../../../../bpf/include -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types writeuser writeuser.bpf.c -- -I../../../../bpf/include -I/usr/include/x86_64-linux-gnu
