print('hello from the container')
