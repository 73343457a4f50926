//go:build cgo

package masterd

const cgoEnabled = true
