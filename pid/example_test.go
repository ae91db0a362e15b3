package pid_test

import (
	"fmt"

	"github.com/wsrelay/wsrelay/pid"
)

func ExampleParse() {
	p, err := pid.Parse("{n1@app:processes|42}")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Node, p.Host, p.ID)
	_, err = pid.Parse("{n1@app:processes}")
	fmt.Println(err)
	// Output:
	// n1 app:processes 42
	// invalid pid "{n1@app:processes}": missing '|' before the id
}
