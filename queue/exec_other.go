//go:build !unix

package queue

import "os/exec"

// killGroupOnCancel: without process groups, exec.CommandContext's default
// kill of the direct child applies.
func killGroupOnCancel(*exec.Cmd) {}

func killGroup(*exec.Cmd) {}
