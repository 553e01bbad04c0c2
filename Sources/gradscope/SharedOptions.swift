/// Options that choose and build the model, shared by `train` and `profile`.
let modelOptions = [
    OptionSpec(name: "--model", valueName: "NAME", help: "Model from 'gradscope models' (default vgg19)."),
    OptionSpec(name: "--no-skip", help: "ResNets: remove every block's skip connection."),
    OptionSpec(name: "--depth", valueName: "N", help: "MLP: number of linear layers (default 20)."),
    OptionSpec(name: "--width", valueName: "N", help: "MLP: width of the hidden layers (default 256)."),
    OptionSpec(name: "--activation", valueName: "NAME", help: "MLP: relu, sigmoid or tanh (default sigmoid)."),
    OptionSpec(name: "--num-classes", valueName: "K", help: "Classes of the final layer (default 10)."),
    OptionSpec(name: "--dropout", valueName: "P", help: "VGG: dropout probability of the classifier (default 0.5)."),
    OptionSpec(name: "--convolution-algorithm", valueName: "NAME", help: "automatic (Winograd for 3x3 stride-1 layers where it is faster) or direct (PyTorch's CPU algorithm) (default automatic)."),
    OptionSpec(name: "--weights", valueName: "FILE", help: "Start from a .pth or .safetensors state dict (a different head is re-initialised)."),
]

/// Options that choose and prepare the data, shared by `train` and `profile`.
let dataOptions = [
    OptionSpec(name: "--data", valueName: "PATH", help: "Data set directory (CIFAR-10/100, MNIST, image folders); built-in synthetic images when absent."),
    OptionSpec(name: "--image-size", valueName: "S", help: "Resize images to S x S pixels (default: keep the data's own size; ImageNet models use 224)."),
    OptionSpec(name: "--normalize", help: "Normalise inputs with CIFAR-10's channel mean and deviation (off by default)."),
    OptionSpec(name: "--synthetic-size", valueName: "N", help: "Training images of the built-in synthetic set (default 1000; a quarter as many test images)."),
    OptionSpec(name: "--batch-size", valueName: "N", help: "Images per batch (default 32)."),
    OptionSpec(name: "--seed", valueName: "N", help: "Seed of every random choice: weights, data order, dropout (default 0)."),
]
