//go:build !cgo

package masterd

const cgoEnabled = false
