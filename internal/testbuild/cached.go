package testbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// CacheDir is where builds too slow to repeat are kept between runs (and
// between CI runs): $HOME/.cache/glsotel.
func CacheDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "glsotel"), nil
}

// cached returns CacheDir()/name/bin, running build(tmp) into a temporary
// directory first if it is not there, and renaming it into place only once
// the build succeeded (an interrupted build leaves nothing to trust).
func cached(name, bin string, build func(tmp string) error) (string, error) {
	root, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, name)
	path := filepath.Join(dir, bin)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if err := build(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return path, nil
}

func run(dir string, env []string, args ...string) error {
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %w\n%s", args, err, out)
	}
	return nil
}

// Big generates and builds bench/apps/big (root is the repository's root),
// an executable of over 100 MiB, once per version of its generator (about
// 1.5 min).
func Big(root string, logf func(string, ...any)) (string, error) {
	gen := filepath.Join(root, "bench", "apps", "big", "gen.go")
	src, err := os.ReadFile(gen)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(src)
	name := "bigsvc-" + hex.EncodeToString(sum[:6])
	return cached(name, "bigsvc", func(tmp string) error {
		logf("building a large Go program (bench/apps/big, about 1.5 min, cached as %s)", name)
		if err := run("", nil, "go", "run", gen, "-out", tmp); err != nil {
			return err
		}
		return run(tmp, nil, "go", "build", "-o", "bigsvc", ".")
	})
}

// CaddyVersion is the real-world server Caddy builds.
const CaddyVersion = "v2.11.9"

// Caddy builds the Caddy web server (a real program of about 40 MB, many
// dependencies) with the local Go, once (a few minutes).
func Caddy(logf func(string, ...any)) (string, error) {
	return cached("caddy-"+CaddyVersion, "caddy", func(tmp string) error {
		logf("building caddy %s (a few minutes, cached)", CaddyVersion)
		return run("", []string{"GOBIN=" + tmp, "CGO_ENABLED=0", "GOFLAGS="},
			"go", "install", "github.com/caddyserver/caddy/v2/cmd/caddy@"+CaddyVersion)
	})
}
