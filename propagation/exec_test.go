package propagation_test

import "os/exec"

func execOutput(bin string, args ...string) (string, error) {
	b, err := exec.Command(bin, args...).Output()
	return string(b), err
}
