use wgtrain_data::load_mnist;
use wgtrain_data::real_data::{real_dataset_dir, RealDataset};

#[test]
fn loads_the_real_dataset() {
    let Some(dir) = real_dataset_dir(RealDataset::Mnist) else {
        return;
    };
    let mnist = load_mnist(&dir).unwrap_or_else(|err| panic!("{err:#}"));
    assert_eq!(mnist.n_train(), 60_000);
    assert_eq!(mnist.n_test(), 10_000);
    assert_eq!(mnist.train_images.len(), 60_000 * 784);
    assert_eq!(mnist.test_images.len(), 10_000 * 784);
    assert_eq!(mnist.train_labels[0], 5, "first training digit is a 5");
    assert_eq!(mnist.test_labels[0], 7, "first test digit is a 7");
    for images in [&mnist.train_images, &mnist.test_images] {
        assert!(images.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(images.contains(&1.0), "some pixels are fully on");
    }
    let mut counts = [0usize; 10];
    for &label in &mnist.train_labels {
        counts[usize::from(label)] += 1;
    }
    assert_eq!(counts.iter().sum::<usize>(), 60_000);
    assert!(counts.iter().all(|&n| n > 5_000), "classes: {counts:?}");
}
