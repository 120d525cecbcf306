module proxy

go 1.22
