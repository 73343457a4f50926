//go:build cgo

package scriptd

// cgoBuild: this test binary has cgo (go test -race needs it), so
// AllThreadsSyscall cannot work in it and the confined helper runs from
// a separate CGO_ENABLED=0 build of the tests.
const cgoBuild = true
