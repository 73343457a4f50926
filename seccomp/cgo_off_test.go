//go:build !cgo

package seccomp

// cgoBuild: see cgo_on_test.go.
const cgoBuild = false
