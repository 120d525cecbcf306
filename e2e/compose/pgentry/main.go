// Command pgentry is the entry point of the compose test's local
// PostgreSQL image (no registry here to pull the official one from). It
// does for the demo what the official image's entry point does: on first
// start initdb with POSTGRES_PASSWORD for the postgres user, then run
// postgres (the arguments after "postgres") as the postgres user.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

const (
	bin = "/usr/lib/postgresql/15/bin"
	uid = 999 // postgres in the image's /etc/passwd
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgentry:", err)
		os.Exit(1)
	}
}

func run() error {
	data := os.Getenv("PGDATA")
	if data == "" {
		data = "/var/lib/postgresql/data"
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := os.Chown(data, uid, uid); err != nil {
		return err
	}
	if err := syscall.Setgid(uid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		pw := filepath.Join(os.TempDir(), "pgpass")
		if err := os.WriteFile(pw, []byte(os.Getenv("POSTGRES_PASSWORD")+"\n"), 0o600); err != nil {
			return err
		}
		initdb := exec.Command(bin+"/initdb", "-D", data, "-U", "postgres", "--pwfile", pw,
			"--auth=scram-sha-256", "--locale=C", "-E", "UTF8")
		initdb.Stdout, initdb.Stderr = os.Stderr, os.Stderr
		if err := initdb.Run(); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
		os.Remove(pw)
	}
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "postgres" {
		args = args[1:]
	}
	argv := append([]string{"postgres", "-D", data, "-k", os.TempDir()}, args...)
	return syscall.Exec(bin+"/postgres", argv, os.Environ())
}
