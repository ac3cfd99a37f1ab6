// SafeTensors module
