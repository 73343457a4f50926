//go:build !cgo

package scriptd

// cgoBuild: see cgo_on_test.go.
const cgoBuild = false
