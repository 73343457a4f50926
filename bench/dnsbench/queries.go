package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Query set sizes.
const (
	hotNames   = 1000
	coldNames  = 1_000_000 // far more than any server answers in a run: each name is new
	zipfNames  = 100_000
	zipfDraws  = 1_000_000
	zipfS      = 1.01 // the exponent: close to 1, as measured DNS popularity is
	nxNames    = 1000
	cacheSize  = 10000
	randomSeed = 20260901
)

// querySet describes one set: its dnsperf file and whether a warm-up pass
// fills the caches before measuring.
type querySet struct {
	name, file string
	warm       bool
}

func writeQueryFiles(dir string, sets []string) ([]querySet, error) {
	var out []querySet
	for _, s := range sets {
		path := filepath.Join(dir, s+".queries")
		var gen func(w *bufio.Writer)
		warm := true
		switch s {
		case "hot":
			gen = func(w *bufio.Writer) {
				for i := range hotNames {
					fmt.Fprintf(w, "h%04d.hot.bench A\n", i)
				}
			}
		case "cold":
			warm = false
			gen = func(w *bufio.Writer) {
				for i := range coldNames {
					fmt.Fprintf(w, "c%07d.cold.bench A\n", i)
				}
			}
		case "zipf":
			gen = func(w *bufio.Writer) {
				r := rand.New(rand.NewPCG(randomSeed, 1))
				z := rand.NewZipf(r, zipfS, 1, zipfNames-1)
				for range zipfDraws {
					fmt.Fprintf(w, "z%06d.zipf.bench A\n", z.Uint64())
				}
			}
		case "nx":
			gen = func(w *bufio.Writer) {
				for i := range nxNames {
					fmt.Fprintf(w, "nx%04d.nx.bench A\n", i)
				}
			}
		default:
			return nil, fmt.Errorf("unknown query set %q (hot, cold, zipf, nx)", s)
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		w := bufio.NewWriter(f)
		gen(w)
		if err := w.Flush(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		out = append(out, querySet{name: s, file: path, warm: warm})
	}
	return out, nil
}
