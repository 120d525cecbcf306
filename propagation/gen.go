package propagation

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types -type gls_entry -type gls_key gls gls.bpf.c -- -I../bpf/include -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types -type inject_outcome -type inject_key -type inject_header inject inject.bpf.c -- -I../bpf/include -I/usr/include/x86_64-linux-gnu
