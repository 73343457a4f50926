//go:build cgo

package seccomp

// cgoBuild: this test binary has cgo (go test -race needs it), so
// AllThreadsSyscall cannot work in it; confined children use a separate
// CGO_ENABLED=0 build.
const cgoBuild = true
