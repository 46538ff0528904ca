{ name: 'lab-1' }
