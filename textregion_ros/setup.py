"""Packaging for colcon (ament_python) and for pip (`pip install -e textregion_ros`).

Version ranges here are what the code supports; scripts/requirements.txt pins the exact versions
used on the development and CI machines. rclpy and the message packages come from ROS (apt or the
ROS 2 wheels), never from these ranges.
"""
from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = "textregion_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="ROS 2 open-vocabulary segmentation and grounding with SAM2 + TextRegion region tokens",
    license="Apache-2.0",
    python_requires=">=3.10",
    # namespace discovery so the bundled photos (textregion_ros/data, no __init__.py) ship too
    packages=find_namespace_packages(include=["textregion_ros", "textregion_ros.*"], exclude=["*.__pycache__"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/config/presets", glob("config/presets/*.yaml")),  # tooling/params_files.py finds them here
        (f"share/{PACKAGE}/config/nav2", glob("config/nav2/*.yaml")),  # example params for Nav2
    ],
    package_data={f"{PACKAGE}.data": ["*.jpg", "*.md"]},
    # Lower bounds are the newest of: what the code uses, and what the lowest admitted version of a
    # package we depend on requires (sam2 1.1.0: torch>=2.5.1, torchvision>=0.20.1, numpy>=1.24.4,
    # tqdm>=4.66.1, pillow>=9.4.0). test/test_dependency_ranges.py checks them against the pins
    # (scripts/requirements.txt, scripts/setup.sh) and the installed packages' metadata.
    install_requires=[
        "numpy>=1.24.4",
        "torch>=2.5.1",
        "torchvision>=0.20.1",
        "sam2>=1.1,<2",  # 1.1.0: the SAM2.1 configs
        "open-clip-torch>=3.0,<4",  # 3.0.0: PE-Core and SigLIP2 configs (requires timm>=1.0.17)
        "timm>=1.0.20",
        "scipy>=1.10",
        "transformers>=4.40",  # open_clip's Hugging Face tokenizers (SigLIP2)
        "huggingface-hub>=0.19.3",  # constants.HF_HUB_CACHE
        "pyyaml>=6",
        "tqdm>=4.66.1",
        "pillow>=9.4.0",
        "rosbags>=0.10.9",  # rosbag2.StoragePlugin and interfaces.Qos
        "psycopg[binary]>=3.1",  # the object store on PostgreSQL (3.1: the Debian 12 / Ubuntu 24.04 version)
    ],
    extras_require={"test": [
        "pytest>=7", "pytest-timeout>=2", "catkin_pkg>=1.0", "packaging>=22", "tokenizers>=0.19",
        "mcap>=1.0", "mcap-ros2-support>=0.5",
    ]},
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "textregion_node = textregion_ros.ros.node_main:main",
            "textregion = textregion_ros.cli:main",
            "textregion-download = textregion_ros.cli:download_main",
            "textregion-demo = textregion_ros.demo:main",
        ],
    },
)
