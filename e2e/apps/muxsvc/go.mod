module muxsvc

go 1.22
