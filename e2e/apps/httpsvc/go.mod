module httpsvc

go 1.22
