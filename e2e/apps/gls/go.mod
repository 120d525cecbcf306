module github.com/glsotel/glsotel/e2e/apps/gls

go 1.21

require golang.org/x/sync v0.10.0
