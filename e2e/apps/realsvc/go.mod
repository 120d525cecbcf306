module realsvc

go 1.21
