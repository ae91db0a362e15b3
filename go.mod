module github.com/wsrelay/wsrelay

go 1.26

require github.com/yuin/gopher-lua v1.1.2

require go.yaml.in/yaml/v3 v3.0.6
