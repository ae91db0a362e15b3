module github.com/wsrelay/wsrelay

go 1.26

require github.com/yuin/gopher-lua v1.1.2

require (
	github.com/lxzan/gws v1.8.9
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
)
